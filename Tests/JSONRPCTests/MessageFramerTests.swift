import JSONRPC
import Testing

@Suite struct MessageFramerTests {
    private func feed(_ framer: inout MessageFramer, _ text: String) -> [FramingEvent] {
        Array(text.utf8).withUnsafeBytes { framer.feed($0) }
    }

    @Test func splitsMessagesWhateverTheChunking() {
        let stream = "Content-Length: 2\r\n\r\n{}Content-Type: application/vscode-jsonrpc; charset=utf-8\r\ncontent-length: 4\r\n\r\n[1,2]"
        for chunk in [1, 2, 3, 7, 1000] {
            var framer = MessageFramer()
            var events: [FramingEvent] = []
            var index = stream.utf8.startIndex
            while index < stream.utf8.endIndex {
                let end = stream.utf8.index(index, offsetBy: chunk, limitedBy: stream.utf8.endIndex) ?? stream.utf8.endIndex
                events += feed(&framer, String(stream.utf8[index..<end])!)
                index = end
            }
            #expect(events == [.message(Array("{}".utf8)), .message(Array("[1,2".utf8))], "chunk \(chunk)")
            #expect(framer.bufferedBytes == 1)
        }
    }

    @Test func toleratesBareNewlinesAndUnknownHeaders() {
        var framer = MessageFramer()
        #expect(feed(&framer, "X-Trace: 1\nContent-Length: 1\n\n7") == [.message([UInt8(ascii: "7")])])
    }

    @Test func skipsOversizedBodiesAndKeepsTheFraming() {
        var framer = MessageFramer(maxMessageBytes: 4)
        let events = feed(&framer, "Content-Length: 10\r\n\r\n0123456789Content-Length: 2\r\n\r\nok")
        #expect(events == [.oversized(length: 10), .message(Array("ok".utf8))])
    }

    @Test(arguments: [
        ("Content-Length: abc\r\n\r\n", "invalid Content-Length 'abc'"),
        ("Content-Length: -5\r\n\r\n", "invalid Content-Length '-5'"),
        ("Content-Length: +2\r\n\r\n{}", "invalid Content-Length '+2'"),
        ("Content-Length: 1 2\r\n\r\n{}", "invalid Content-Length '1 2'"),
        ("Content-Type: text/plain\r\n\r\n{}", "missing Content-Length header"),
        ("garbage without colon\r\n\r\n", "header line without ':' (garbage without colon)"),
        ("Content-Length: 2\r\nContent-Type: application/json; charset=latin-1\r\n\r\n{}", "unsupported charset 'latin-1'"),
    ])
    func reportsBrokenHeadersOnce(stream: String, reason: String) {
        var framer = MessageFramer()
        #expect(feed(&framer, stream) == [.framingError(reason)])
        #expect(framer.failed)
        #expect(feed(&framer, "Content-Length: 2\r\n\r\n{}").isEmpty, "a failed framer ignores the rest")
    }

    @Test func refusesEndlessHeaders() {
        var framer = MessageFramer(maxHeaderBytes: 64)
        let events = feed(&framer, "X: " + String(repeating: "a", count: 100))
        #expect(events == [.framingError("header block longer than 64 bytes")])
    }

    @Test func headerForBody() {
        #expect(MessageFramer.header(forBodyOf: 52) == Array("Content-Length: 52\r\n\r\n".utf8))
    }
}
