import Foundation
import JSON
import JSONRPC
import LLMRecProtocol
import RPCTransport

extension Daemon: ConnectionDelegate {
    public func connection(_ connection: Connection, didReceive body: [UInt8]) {
        guard let client = clients[connection.id] else { return }
        let receivedAt = DispatchTime.now().uptimeNanoseconds
        let json: JSONValue
        do { json = try JSONValue.parse(body) } catch {
            send(OutgoingMessage.error(id: nil, .parseError("parse error: \(error)")), to: client)
            return
        }
        guard case .array(let elements) = json else {
            handle(IncomingMessage(json: json), from: client, batch: nil, receivedAt: receivedAt)
            return
        }
        guard !elements.isEmpty else {
            send(OutgoingMessage.error(id: nil, .invalidRequest("empty batch")), to: client)
            return
        }
        guard elements.count <= configuration.limits.maxBatchSize else {
            send(OutgoingMessage.error(
                id: nil, .invalidRequest("batch of \(elements.count) exceeds maxBatchSize \(configuration.limits.maxBatchSize)")),
                to: client)
            return
        }
        let batch = BatchReply { [weak self, weak client] responses in
            guard let self, let client else { return }
            self.send(.array(responses), to: client)
        }
        for element in elements {
            handle(IncomingMessage(json: element), from: client, batch: batch, receivedAt: receivedAt)
        }
        batch.seal()
        if body.count >= ServerMetrics.largeMessageBytes { memoryToReturn = true }
    }

    public func connection(_ connection: Connection, didSkipOversizedMessageOf length: Int) {
        guard let client = clients[connection.id] else { return }
        send(OutgoingMessage.error(
            id: nil, .invalidRequest("message of \(length) bytes exceeds maxMessageBytes \(configuration.limits.maxMessageBytes)")),
            to: client)
    }

    public func connection(_ connection: Connection, didFailFraming reason: String) {
        guard let client = clients[connection.id] else { return }
        send(OutgoingMessage.error(id: nil, .parseError("framing lost: \(reason); closing the connection")), to: client)
        cancelAll(of: client)
        connection.closeWhenFlushed()
    }

    public func connectionInputDidEnd(_ connection: Connection) {
        guard let client = clients[connection.id] else { return }
        if client.isStdio {
            // End of stdin ends stdio mode once the requests already read are answered.
            client.closingAfterInFlight = true
            if client.isIdle { connection.closeWhenFlushed() }
        } else {
            // A socket client that hangs up takes its requests with it.
            cancelAll(of: client)
            connection.close()
        }
    }

    public func connectionDidClose(_ connection: Connection) {
        guard let client = clients.removeValue(forKey: connection.id) else { return }
        lastActivity = DispatchTime.now().uptimeNanoseconds
        cancelAll(of: client)
        // Most of a burst of connections gone: their buffers go back to the system.
        if clients.count * 2 < peakClients && (peakClients >= 64 || clients.isEmpty) {
            memoryToReturn = true
            peakClients = clients.count
        }
        if client.isStdio {
            finish()
        } else if draining {
            closeDrainedClients()
        }
    }

    /// Cancels every in-flight request of `client` without replying (the client is gone or its
    /// framing is lost).
    func cancelAll(of client: ClientState) {
        for ticket in client.tickets.values {
            guard let request = pending.removeValue(forKey: ticket) else { continue }
            request.cancellation.cancel()
            metrics.record(milliseconds: milliseconds(since: request.receivedAt), outcome: .cancelled)
        }
        client.tickets.removeAll()
    }

    /// Writes one message (a response, a batch array or a notification) to `client`.
    func send(_ message: JSONValue, to client: ClientState) {
        client.connection.send(Array(JSONWriter.compact(message).utf8))
    }

    func milliseconds(since start: UInt64) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
    }
}
