import Datasets
import Testing

@Suite struct TextCleanerTests {
    @Test(arguments: [
        ("  Hello \n\t world  ", "Hello world"),
        ("Tom &amp; Jerry&#39;s &#x263A; &quot;quoted&quot;", "Tom & Jerry's ☺ \"quoted\""),
        ("<p>First</p><p>Second<br/>line</p>", "First Second line"),
        ("a &lt;b&gt; tag written as text", "a <b> tag written as text"),
        ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("AT&T &unknown; &", "AT&T &unknown; &"),
        ("non\u{00A0}breaking&nbsp;space", "non breaking space"),
        ("control\u{0007}char", "controlchar"),
        ("<!-- comment -->visible", "visible"),
        ("   ", ""),
    ])
    func cleans(raw: String, expected: String) {
        #expect(TextCleaner.clean(raw, limit: 1000) == expected)
    }

    @Test func capsLongTextAtAWordBoundary() {
        let text = String(repeating: "word ", count: 1000)
        let capped = TextCleaner.clean(text, limit: 100)
        #expect(capped.unicodeScalars.count <= 100)
        #expect(capped.hasSuffix("word…"))
    }

    @Test func missingTextIsNil() {
        let cleaner = TextCleaner()
        #expect(cleaner.title("<br/>  ") == nil)
        #expect(cleaner.description(["", " <p></p> "]) == nil)
        #expect(cleaner.description(["One.", "", "Two."]) == "One. Two.")
    }
}
