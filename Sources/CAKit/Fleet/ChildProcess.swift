import CSystem
import FoundationEssentials
import Glibc

/// A child with its standard input fed from memory and both outputs captured (bounded), ended by its
/// own PID when it overruns its time. What `deploy` runs ssh with: the bundle goes in through a pipe,
/// never through a file or an argument.
public enum ChildProcess {
    public struct Result: Sendable {
        public let status: Int32
        public let stdout: [UInt8]
        public let stderr: [UInt8]
        public let timedOut: Bool
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        public var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    }

    /// An absolute program path: `name` itself when it holds a slash, else the first executable of
    /// that name on the children's PATH (never our own PATH, which another user may have set).
    public static func resolve(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for directory in ChildEnvironment.path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Runs `arguments` (the first an absolute path). Output beyond `outputLimit` bytes per stream is
    /// read and dropped. After `timeout` seconds the child gets SIGTERM, then SIGKILL. The child's
    /// exit ends the wait even if a grandchild (an ssh ControlMaster) keeps the pipes open.
    public static func run(_ arguments: [String], input: [UInt8], environment: [String: String], timeout: TimeInterval,
                           outputLimit: Int = 1 << 20) throws -> Result {
        // A remote that closes its input early must not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        guard ca_pipe_cloexec(&inPipe) == 0 else { throw CAError.io("cannot create a pipe: \(String(cString: strerror(errno)))") }
        guard ca_pipe_cloexec(&outPipe) == 0 else {
            inPipe.forEach { close($0) }
            throw CAError.io("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        guard ca_pipe_cloexec(&errPipe) == 0 else {
            (inPipe + outPipe).forEach { close($0) }
            throw CAError.io("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, arguments[0], &actions, nil, argv, env)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw CAError.io("cannot run \(arguments[0]): \(String(cString: strerror(rc)))")
        }
        for fd in [inPipe[1], outPipe[0], errPipe[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }

        var stdinFD: Int32 = inPipe[1], stdoutFD: Int32 = outPipe[0], stderrFD: Int32 = errPipe[0]
        if input.isEmpty { close(stdinFD); stdinFD = -1 }
        var written = 0
        var out: [UInt8] = [], err: [UInt8] = []
        var status: Int32?
        var timedOut = false
        let deadline = Date().addingTimeInterval(timeout)
        var killedAt: Date?
        var buffer = [UInt8](repeating: 0, count: 65_536)

        func drain(_ fd: inout Int32, into sink: inout [UInt8]) {
            while fd >= 0 {
                let n = read(fd, &buffer, buffer.count)
                if n > 0 {
                    if sink.count < outputLimit { sink += buffer[0..<min(n, outputLimit - sink.count)] }
                    continue
                }
                if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
                close(fd); fd = -1  // EOF or error
            }
        }

        while status == nil || stdoutFD >= 0 || stderrFD >= 0 {
            var fds: [pollfd] = []
            if stdinFD >= 0 { fds.append(pollfd(fd: stdinFD, events: Int16(POLLOUT), revents: 0)) }
            if stdoutFD >= 0 { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
            if stderrFD >= 0 { fds.append(pollfd(fd: stderrFD, events: Int16(POLLIN), revents: 0)) }
            if !fds.isEmpty { _ = poll(&fds, nfds_t(fds.count), 100) } else { usleep(20_000) }
            if stdinFD >= 0 {
                let n = input.withUnsafeBytes { write(stdinFD, $0.baseAddress! + written, $0.count - written) }
                if n > 0 { written += n }
                if written == input.count || (n < 0 && errno != EAGAIN && errno != EINTR) { close(stdinFD); stdinFD = -1 }
            }
            drain(&stdoutFD, into: &out)
            drain(&stderrFD, into: &err)
            if status == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    let signal = raw & 0x7F
                    status = signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
                    // What is left in the pipes now; a grandchild holding them open is not waited for.
                    drain(&stdoutFD, into: &out)
                    drain(&stderrFD, into: &err)
                    for fd in [stdinFD, stdoutFD, stderrFD] where fd >= 0 { close(fd) }
                    stdinFD = -1; stdoutFD = -1; stderrFD = -1
                    break
                }
            }
            let now = Date()
            if now > deadline {
                if killedAt == nil {
                    timedOut = true
                    killedAt = now
                    kill(pid, SIGTERM)
                } else if let killedAt, now.timeIntervalSince(killedAt) > 2 {
                    kill(pid, SIGKILL)
                }
            }
        }
        return Result(status: status ?? 128 + SIGKILL, stdout: out, stderr: err, timedOut: timedOut)
    }
}
