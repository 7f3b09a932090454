import JSON
import Testing

@Suite struct JSONParserTests {
    @Test func parsesEveryKindAndKeepsKeyOrder() throws {
        let value = try JSONValue.parse(#"{"z": 1, "a": [true, false, null, 2.5, "t\u00e9\n"], "m": {"k": -7}}"#)
        #expect(value.objectValue?.keys == ["z", "a", "m"])
        #expect(value["z"] == .int(1))
        #expect(value["a"] == [true, false, nil, 2.5, "té\n"])
        #expect(value["m"]?["k"]?.intValue == -7)
    }

    @Test func readsIntegersBeyondInt64AsNumbers() throws {
        // Valid JSON that jansson refuses as integers: read again with numbers as doubles.
        let value = try JSONValue.parse(#"{"big": 9223372036854775808, "small": 7, "huge": -18446744073709551616, "fraction": 1.5}"#)
        #expect(value["big"] == .double(9_223_372_036_854_775_808))
        #expect(value["small"] == .int(7))
        #expect(value["huge"] == .double(-18_446_744_073_709_551_616))
        #expect(value["fraction"] == .double(1.5))
        #expect(try JSONValue.parse("9223372036854775807") == .int(Int64.max))
    }

    @Test func keepsNulCharactersInsideStrings() throws {
        #expect(try JSONValue.parse(#""a\u0000b""#) == .string("a\u{0}b"))
    }

    @Test(arguments: [
        ("{\"a\": ", 1, "end of file"),
        ("{\"a\" 1}", 1, "':' expected"),
        ("[1, 2,]", 1, "unexpected token"),
        ("[1,\n\n 2 x]", 3, "expected near 'x'"),
    ])
    func reportsWhereParsingFailed(text: String, line: Int, fragment: String) {
        do {
            _ = try JSONValue.parse(text)
            Issue.record("parsed invalid JSON \(text)")
        } catch {
            #expect(error.line == line)
            #expect(error.message.contains(fragment), "\(error.message)")
        }
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func rejectsDuplicateKeysOnlyWhenAsked() throws {
        #expect(try JSONValue.parse(#"{"a": 1, "a": 2}"#)["a"] == .int(2))
        #expect(throws: JSONParseError.self) {
            try JSONValue.parse(#"{"a": 1, "a": 2}"#, options: JSONParseOptions(rejectDuplicateKeys: true))
        }
    }

    @Test func lazyDocumentReadsOnlyWhatIsAsked() throws {
        let text = Array(#"{"user_id": "U1", "timestamp": 1600000000000, "rating": 4.0, "tags": ["a", 3]}"#.utf8)
        let document = try text.withUnsafeBytes { try JSONDocument(bytes: $0) }
        document.withRoot { root in
            #expect(root["user_id"]?.string == "U1")
            #expect(root["timestamp"]?.int == 1_600_000_000_000)
            #expect(root["rating"]?.int == 4)
            #expect(root["rating"]?.double == 4.0)
            #expect(root["tags"]?.elements?.count == 2)
            #expect(root["missing"] == nil)
            #expect(root["user_id"]?.int == nil)
        }
    }
}

@Suite struct JSONWriterTests {
    @Test func writesCompactShortestNumbersAndEscapes() {
        let value: JSONValue = ["b": 0.1, "a": [1, "q\"\\\u{1}", nil], "c": .double(3), "n": .number(.nan)]
        #expect(JSONWriter.compact(value) == #"{"b":0.1,"a":[1,"q\"\\\u0001",null],"c":3.0,"n":null}"#)
    }

    @Test func roundTripsThroughTheParser() throws {
        let value: JSONValue = ["text": "ünïcödé ✨ \n\t", "list": [1, -2.5e-8, true, [:], []], "big": 9_007_199_254_740_993]
        #expect(try JSONValue.parse(JSONWriter.compact(value)) == value)
        #expect(try JSONValue.parse(JSONWriter.pretty(value)) == value)
    }

    @Test func prettyOutputIndentsByTwoSpaces() {
        #expect(JSONWriter.pretty(["a": [1]]) == "{\n  \"a\": [\n    1\n  ]\n}")
    }
}
