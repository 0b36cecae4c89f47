import FoundationEssentials

/// Work that waits on the network (ssh, probes), on threads, at most `limit` at once. `started` and
/// `finished` run on the calling thread, `finished` as each item completes, so a caller can record
/// results (in its database, which is not shared across threads) as they come.
public enum Parallel {
    public static func run<T: Sendable, R: Sendable>(_ items: [T], limit: Int, started: (T) -> Void = { _ in },
                                                     finished: (Int, R) -> Void, _ body: @escaping @Sendable (T) -> R) {
        let inbox = Inbox<(Int, R)>()
        var next = 0, running = 0
        while next < items.count || running > 0 {
            while running < max(1, limit) && next < items.count {
                let index = next, item = items[next]
                next += 1
                running += 1
                started(item)
                startThread(stackSize: 1 << 20) { inbox.post((index, body(item))) }
            }
            let (index, result) = inbox.take()
            running -= 1
            finished(index, result)
        }
    }

    /// `map` in the input's order.
    public static func map<T: Sendable, R: Sendable>(_ items: [T], limit: Int, _ body: @escaping @Sendable (T) -> R) -> [R] {
        var slots = [R?](repeating: nil, count: items.count)
        run(items, limit: limit, finished: { slots[$0] = $1 }, body)
        return slots.map { $0! }
    }
}
