import CAKit
import FoundationEssentials
import Glibc

/// Input a command reads from a file or from standard input ('-'): bounded, never a FIFO that
/// blocks (O_NONBLOCK on open), never empty.
enum InputFile {
    static func read(_ path: String, limit: Int, what: String, fix: String) throws -> [UInt8] {
        var bytes: [UInt8]
        if path == "-" {
            bytes = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = Glibc.read(STDIN_FILENO, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                bytes += buffer[0..<n]
                if bytes.count > limit { throw CAError.invalid("the \(what) on standard input is larger than \(limit) bytes; a ca \(what) is a few kilobytes") }
            }
        } else {
            let fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
            guard fd >= 0 else { throw CAError.invalid("cannot read the \(what) '\(path.quotedForErrorLine)': \(String(cString: strerror(errno)))", fix: fix) }
            defer { close(fd) }
            bytes = try FileRoot.readDescriptor(fd, path: path, limit: limit).bytes
        }
        guard !bytes.isEmpty else { throw CAError.invalid("the \(what) '\(path.quotedForErrorLine)' is empty", fix: fix) }
        return bytes
    }
}
