import Foundation

/// `map` over threads, at most `limit` at once, results in the input's order: for work that waits on
/// the network (probes), not on the CPU.
public enum Parallel {
    public static func map<T: Sendable, R: Sendable>(_ items: [T], limit: Int, _ body: @escaping @Sendable (T) -> R) -> [R] {
        guard items.count > 1, limit > 1 else { return items.map(body) }
        let box = Box<R>(count: items.count)
        var next = 0
        var running = 0
        while next < items.count || running > 0 {
            while running < limit && next < items.count {
                let index = next, item = items[next]
                next += 1
                running += 1
                let thread = Thread { box.put(index, body(item)) }
                thread.stackSize = 1 << 20
                thread.start()
            }
            box.waitForOne()
            running -= 1
        }
        return box.results()
    }

    final class Box<R>: @unchecked Sendable {
        private let condition = NSCondition()
        private var slots: [R?]
        private var finished = 0
        private var taken = 0

        init(count: Int) { slots = Array(repeating: nil, count: count) }

        func put(_ index: Int, _ value: R) {
            condition.lock()
            slots[index] = value
            finished += 1
            condition.signal()
            condition.unlock()
        }

        func waitForOne() {
            condition.lock()
            while finished == taken { condition.wait() }
            taken += 1
            condition.unlock()
        }

        func results() -> [R] {
            condition.lock()
            defer { condition.unlock() }
            return slots.map { $0! }
        }
    }
}
