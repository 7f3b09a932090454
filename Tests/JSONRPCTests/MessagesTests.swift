import JSON
import JSONRPC
import Testing

@Suite struct IncomingMessageTests {
    private func classify(_ text: String) throws -> IncomingMessage {
        IncomingMessage(json: try JSONValue.parse(text))
    }

    @Test func classifiesRequestsNotificationsAndResponses() throws {
        guard case .request(let id, let method, let params) = try classify(#"{"jsonrpc":"2.0","id":"a","method":"m","params":{"x":1}}"#) else {
            Issue.record("not a request")
            return
        }
        #expect(id == .string("a"))
        #expect(method == "m")
        #expect(params?["x"] == 1)
        guard case .notification(let name, nil) = try classify(#"{"jsonrpc":"2.0","method":"n"}"#) else {
            Issue.record("not a notification")
            return
        }
        #expect(name == "n")
        guard case .response(.int(3)) = try classify(#"{"jsonrpc":"2.0","id":3,"result":null}"#) else {
            Issue.record("not a response")
            return
        }
    }

    @Test(arguments: [
        (#"[1]"#, nil as RequestID?, "a request must be a JSON object, got array"),
        (#"{"id":1,"method":"m"}"#, RequestID.int(1), "\"jsonrpc\" must be \"2.0\""),
        (#"{"jsonrpc":"2.0","id":[1],"method":"m"}"#, nil, "\"id\" must be an integer or a string"),
        (#"{"jsonrpc":"2.0","id":null,"method":"m"}"#, nil, "\"id\" must not be null"),
        (#"{"jsonrpc":"2.0","id":2}"#, RequestID.int(2), "missing \"method\""),
        (#"{"jsonrpc":"2.0","id":2,"method":5}"#, RequestID.int(2), "\"method\" must be a string"),
        (#"{"jsonrpc":"2.0","id":2,"method":"m","params":3}"#, RequestID.int(2), "\"params\" must be an object or an array"),
    ])
    func explainsInvalidMessages(text: String, id: RequestID?, message: String) throws {
        guard case .invalid(let gotID, let error) = try classify(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(gotID == id)
        #expect(error.code == -32600)
        #expect(error.message == message)
    }

    @Test func buildsResponsesErrorsAndNotifications() {
        #expect(JSONWriter.compact(OutgoingMessage.response(id: .int(1), result: ["a": 1])) == #"{"jsonrpc":"2.0","id":1,"result":{"a":1}}"#)
        #expect(
            JSONWriter.compact(OutgoingMessage.error(id: nil, .methodNotFound("x")))
                == #"{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"unknown method 'x'","data":{"method":"x"}}}"#)
        #expect(JSONWriter.compact(OutgoingMessage.notification(method: "$/progress", params: [:])) == #"{"jsonrpc":"2.0","method":"$/progress","params":{}}"#)
    }
}
