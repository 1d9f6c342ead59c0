import Testing
@testable import ComposeKernel

/// Values for expression rows: a dictionary standing in for a .config.
struct TableValues: KconfigValues {
    let values: [String: String]
    func tristate(of symbol: String) -> Tristate {
        switch values[symbol] {
        case "y": .yes
        case "m": .module
        default: .no
        }
    }
    func text(of symbol: String) -> String { values[symbol] ?? symbol }
}

/// Kconfig's tristate logic and comparisons, parsed from text.
struct KconfigExpressionTests {
    static let values = TableValues(values: ["A": "y", "B": "m", "C": "n", "LEVELS": "4", "ARCH": "x86", "BASE": "0x1000"])

    @Test(arguments: [
        ("A", Tristate.yes), ("B", .module), ("C", .no), ("UNDEFINED", .no),
        ("A && B", .module), ("A || C", .yes), ("B || C", .module), ("!B", .module), ("!C", .yes),
        ("A && !(B || C)", .module), ("!A || B && C", .no),
        ("LEVELS > 2", .yes), ("LEVELS >= 5", .no), ("LEVELS = 4", .yes), ("LEVELS != 4", .no),
        ("ARCH = \"x86\"", .yes), ("ARCH != 'x86'", .no), ("BASE < 0x2000", .yes),
        ("A = y", .yes), ("B = y", .no), ("(A)", .yes), ("y", .yes), ("m && A", .module),
    ])
    func evaluates(text: String, expected: Tristate) throws {
        let tokens = try #require(tokenizeKconfig(Substring(text)))
        let expression = try #require(KconfigExpressionParser.parse(tokens))
        #expect(expression.evaluate(Self.values) == expected)
    }

    @Test(arguments: [
        ("A && $(cc-option,-mfoo)", nil as Tristate?), ("C && $(cc-option,-mfoo)", .no), ("A || $(success,true)", .yes),
    ])
    func macrosAreUnknown(text: String, expected: Tristate?) throws {
        let tokens = try #require(tokenizeKconfig(Substring(text)))
        let expression = try #require(KconfigExpressionParser.parse(tokens))
        #expect(expression.evaluate(Self.values) == expected)
    }

    @Test(arguments: ["A &&", "(A", "A B", "&& A", "A = ", "\"open"])
    func rejectsMalformed(text: String) {
        let expression = tokenizeKconfig(Substring(text)).flatMap { KconfigExpressionParser.parse($0) }
        #expect(expression == nil)
    }

    @Test(arguments: [
        ("A && (B || C)", "A && (B || C)", ["A", "B", "C"]),
        ("!(A && B)", "!(A && B)", ["A", "B"]),
        ("A || B && C", "A || B && C", ["A", "B", "C"]),
        ("PGTABLE_LEVELS > 2 && X86_64", "PGTABLE_LEVELS > 2 && X86_64", ["PGTABLE_LEVELS", "X86_64"]),
    ])
    func printsAndListsSymbols(text: String, printed: String, symbols: [String]) throws {
        let tokens = try #require(tokenizeKconfig(Substring(text)))
        let expression = try #require(KconfigExpressionParser.parse(tokens))
        #expect(expression.description == printed)
        #expect(expression.symbols == symbols)
    }
}
