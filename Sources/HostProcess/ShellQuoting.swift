/// Joins argv into one line a POSIX shell reads back as the same words.
public enum ShellQuoting {
    public static func line(_ argv: [String]) -> String { argv.map(quote).joined(separator: " ") }

    public static func quote(_ word: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
        if !word.isEmpty, word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
