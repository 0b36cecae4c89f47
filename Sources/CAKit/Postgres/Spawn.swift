import FoundationEssentials
import Glibc

/// posix_spawn + waitpid. Foundation's Process waits on a descriptor that a daemonizing grandchild
/// (the postmaster `pg_ctl start` leaves running) inherits, and then never sees its child exit.
public enum Spawn {
    /// Starts `arguments[0]` (an absolute path) with stdin from `stdin` (default /dev/null) and both
    /// outputs to files; returns its pid. The child gets `environment`, or a minimal one: never ours,
    /// which may hold a passphrase (a postmaster started through pg_ctl would keep it in
    /// /proc/PID/environ, readable by the postgres user).
    public static func start(_ arguments: [String], stdin: String = "/dev/null", stdout: String, stderr: String,
                             environment: [String: String]? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ChildEnvironment.minimal()).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, env)
        guard rc == 0 else { throw CAError.io("cannot run \(arguments[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Waits for `pid`; its exit status, or 128 + the signal that ended it.
    public static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let signal = status & 0x7F  // WTERMSIG; WIFEXITED when 0
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }

    public static func run(_ arguments: [String], stdin: String = "/dev/null", stdout: String, stderr: String,
                           environment: [String: String]? = nil) throws -> Int32 {
        wait(try start(arguments, stdin: stdin, stdout: stdout, stderr: stderr, environment: environment))
    }
}
