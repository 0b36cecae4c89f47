import Dispatch
import FoundationEssentials
import Glibc
import Synchronization

// ca links FoundationEssentials, not the whole of Foundation: Foundation brings
// FoundationInternationalization and ICU, 50 MB more of binary and 1,750 more protocol conformances
// that every dynamic cast of argument-parser scans at start-up (a one-certificate `ca issue server`
// spent about 1.5 ms of its 12 there). These are the few pieces of Foundation ca used, on the
// standard library, Dispatch and Glibc.

extension StringProtocol {
    /// Without leading and trailing white space, newlines included.
    public var trimmed: String { trimming { $0.isWhitespace } }

    /// Without leading and trailing spaces and tabs (newlines kept).
    public var trimmedSpaces: String { trimming { $0 == " " || $0 == "\t" } }

    /// Without leading and trailing characters that match `drop`.
    public func trimming(_ drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}

extension String {
    /// Left-aligned in `width` characters, space-filled (never cut).
    public func padded(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

extension Double {
    /// Fixed-point with `digits` after the point, rounded half away from zero ("%.1f").
    public func fixed(_ digits: Int) -> String {
        guard isFinite else { return description }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(self) * scale).rounded()
        guard scaled < 9.0e18 else { return description }
        let units = Int64(scaled)
        let whole = units / Int64(scale), fraction = units % Int64(scale)
        let sign = self < 0 && units != 0 ? "-" : ""
        guard digits > 0 else { return sign + String(whole) }
        let text = String(fraction)
        return sign + String(whole) + "." + String(repeating: "0", count: digits - text.count) + text
    }
}

/// One environment variable (getenv): ProcessInfo copies the whole environment into a dictionary
/// first, ~0.7 M instructions of every start.
public enum Environment {
    public static func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }

    /// The named variables that are set.
    public static func values(_ names: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for name in names { if let value = value(name) { out[name] = value } }
        return out
    }
}

/// Paths as strings, as NSString spelled them.
public enum Path {
    /// The directory part: "/a/b" → "/a", "/a" → "/", "a" → "", trailing slashes ignored.
    public static func parent(_ path: String) -> String {
        var path = Substring(path)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        guard let slash = path.lastIndex(of: "/") else { return "" }
        var parent = path[..<slash]
        while parent.hasSuffix("/") { parent = parent.dropLast() }
        return parent.isEmpty ? "/" : String(parent)
    }

    /// The last part: "/a/b" → "b", "/a/b/" → "b", "/" → "/".
    public static func lastComponent(_ path: String) -> String {
        var path = Substring(path)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        guard path != "/", let slash = path.lastIndex(of: "/") else { return String(path) }
        return String(path[path.index(after: slash)...])
    }
}

extension Error {
    /// One line for a person: a LocalizedError's description; a file error's path and reason.
    public var message: String {
        if let described = (self as? LocalizedError)?.errorDescription { return described }
        if let posix = self as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        if let cocoa = self as? CocoaError {
            let path = (cocoa.userInfo["NSFilePath"] as? String).map { "'\($0)': " } ?? ""
            if let underlying = cocoa.userInfo["NSUnderlyingError"] as? POSIXError {
                return path + String(cString: strerror(underlying.code.rawValue))
            }
            return path + "file error \(cocoa.code.rawValue)"
        }
        return String(describing: self)
    }
}

/// A value handed from threads to the one that waits for it, in the order posted.
final class Inbox<Item: Sendable>: Sendable {
    private let items = Mutex<[Item]>([])
    private let ready = DispatchSemaphore(value: 0)

    func post(_ item: Item) {
        items.withLock { $0.append(item) }
        ready.signal()
    }

    func take() -> Item {
        ready.wait()
        return items.withLock { $0.removeFirst() }
    }
}

/// `body`'s result, computed on a thread of Dispatch's pool while the caller does something else.
final class Ahead<Value: Sendable>: Sendable {
    private let inbox = Inbox<Result<Value, any Error>>()

    init(_ body: @escaping @Sendable () throws -> Value) {
        DispatchQueue.global().async { [inbox] in inbox.post(Result { try body() }) }
    }

    /// Waits for the result; call it once.
    func value() throws -> Value { try inbox.take().get() }
}

/// Starts `body` on a thread of its own with a `stackSize` stack (a thread that mostly waits on a
/// child process needs little), detached.
func startThread(stackSize: Int, _ body: @escaping @Sendable () -> Void) {
    final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ body: @escaping @Sendable () -> Void) { self.body = body } }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setstacksize(&attributes, stackSize)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var thread = pthread_t()
    let started = pthread_create(&thread, &attributes, { argument in
        Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue().body()
        return nil
    }, box)
    if started != 0 {  // no thread to be had: run it here rather than lose it
        Unmanaged<Box>.fromOpaque(box).takeRetainedValue().body()
    }
}
