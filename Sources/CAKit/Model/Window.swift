import FoundationEssentials

/// A span of time given as `30d`, `12h`, `2w` or a bare number of days, as in `--expiring 30d`.
public struct Window: Equatable, Sendable {
    public let seconds: TimeInterval

    public init(_ text: String) throws {
        let units: [Character: TimeInterval] = ["h": 3600, "d": 86_400, "w": 7 * 86_400]
        var digits = Substring(text)
        var unit: TimeInterval = 86_400
        if let last = text.last, let factor = units[last] { unit = factor; digits = digits.dropLast() }
        guard let count = Int(digits), count >= 0, count <= 36_500 else {
            throw CAError.invalid("invalid duration '\(text.quotedForError)': expected a count with h, d or w, e.g. 30d")
        }
        seconds = TimeInterval(count) * unit
    }
}
