import Checkpoints
import Datasets
import Foundation
import JSON
import Testing

/// `llmrec train retrieval`, `tune` and the retrieval / blend evaluation modes end to end on the
/// Amazon 2023 fixture with the real SmolLM2-135M-Instruct and all-MiniLM-L6-v2.
@Suite(.serialized) struct RetrievalCommandTests {
    @Test func trainsResumesTunesAndEvaluates() throws {
        let (data, sasrec) = try ALLMRecCommandTests.prepared()
        let bundle = data + "/retrieval"
        let train = ["train", "retrieval", "--data", data, "--bundle", bundle, "--sasrec", sasrec, "--lm", ALLMRecCommandTests.lm,
                     "--max-users", "4", "--batch-size", "2", "--checkpoint-every", "1", "--negatives", "in-batch", "--quiet"]
        let first = try CommandLineTests.run(train + ["--epochs", "1"])
        try #require(first.status == 0, "\(first.stderr)")
        let summary = try ALLMRecCommandTests.summary(first)
        let samples = try #require(summary["samplesThisRun"]?.intValue)
        #expect(samples >= 2 && summary["samplesTotal"]?.intValue == samples)
        #expect(summary["steps"]?.intValue == (samples + 1) / 2)
        #expect((summary["samplesPerSecond"]?.doubleValue ?? 0) > 0)
        let more = try CommandLineTests.run(train + ["--epochs", "2"])
        try #require(more.status == 0, "\(more.stderr)")
        #expect(try ALLMRecCommandTests.summary(more)["samplesThisRun"]?.intValue == samples, "the second epoch only")
        // Two epochs in one run leave the same state as one epoch, then a resumed second.
        let straight = data + "/retrieval-straight"
        let again = try CommandLineTests.run(
            ["train", "retrieval", "--data", data, "--bundle", straight, "--sasrec", sasrec, "--lm", ALLMRecCommandTests.lm, "--max-users", "4",
             "--batch-size", "2", "--negatives", "in-batch", "--quiet", "--epochs", "2"])
        try #require(again.status == 0, "\(again.stderr)")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: bundle + "/retrieval.training.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: straight + "/retrieval.training.safetensors")),
            "resumed equals straight")
        let manifest = try JSONValue.parse(String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8))
        #expect(manifest["retrieval"] == "retrieval.safetensors")
        #expect(manifest["retrievalTemplate"]?["noun"] == "movie")
        #expect(manifest["retrievalTemperature"]?.doubleValue.map { abs($0 - 0.07) < 1e-6 } == true)

        let tuned = try CommandLineTests.run(["tune", "--data", data, "--bundle", bundle, "--encoder", ALLMRecCommandTests.encoder, "--quiet"])
        try #require(tuned.status == 0, "\(tuned.stderr)")
        let tuning = try ALLMRecCommandTests.summary(tuned)
        let signals = tuning["signals"]?.objectValue
        #expect(Set(signals?.keys ?? []) == ["sasrec", "cooccurrence", "text", "retrieval"])
        // The tuned blend is at least as good as every single signal on validation.
        let blendHit = tuning["blend"]?["hit1"]?.doubleValue ?? -1
        for name in ["sasrec", "cooccurrence", "text", "retrieval"] {
            #expect(blendHit >= (tuning["signals"]?[name]?["hit1"]?.doubleValue ?? 2))
        }
        #expect(tuning["blendWithoutLM"]?["weights"]?["retrieval"]?.doubleValue ?? 0 == 0)
        let tunedManifest = try JSONValue.parse(String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8))
        #expect(tunedManifest["blend"]?.objectValue != nil && tunedManifest["blendWithoutLM"]?.objectValue != nil)
        // Lists of items without interactions: a blend of the signals that read items by their text,
        // with and without the LM path.
        #expect(Set(tunedManifest["blendItemsWithoutInteractions"]?.objectValue?.keys ?? []) == ["sasrec-text", "text", "retrieval"])
        #expect(Set(tunedManifest["blendItemsWithoutInteractionsWithoutLM"]?.objectValue?.keys ?? []) == ["sasrec-text", "text"])
        // Chosen with every candidate read as such an item: retrieval by its title alone, SASRec by
        // the row predicted from its text without it.
        #expect(tuning["itemsWithoutInteractionsTunedOn"] == "validation cases, candidates read by their text")
        let readWithout = tuning["signalsReadWithoutInteractions"]?.objectValue
        #expect(Set(readWithout?.keys ?? []) == ["sasrec-text", "text", "retrieval"])
        #expect(readWithout?["text"] == signals?["text"])
        let textualHit = tuning["blendItemsWithoutInteractions"]?["hit1"]?.doubleValue ?? -1
        for name in ["sasrec-text", "text", "retrieval"] { #expect(textualHit >= (readWithout?[name]?["hit1"]?.doubleValue ?? 2)) }
        let textualWithoutLMHit = tuning["blendItemsWithoutInteractionsWithoutLM"]?["hit1"]?.doubleValue ?? -1
        for name in ["sasrec-text", "text"] { #expect(textualWithoutLMHit >= (readWithout?[name]?["hit1"]?.doubleValue ?? 2)) }

        let models = ["retrieval:" + bundle, "blend:" + bundle, "blend-cf:" + bundle, "text:" + ALLMRecCommandTests.encoder, "sasrec-text:" + bundle]
        let evaluated = try CommandLineTests.run(
            ["eval", "--data", data, "--json", "--quiet", "--protocol", "candidates4", "--protocol", "full"] + models.flatMap { ["--model", $0] })
        try #require(evaluated.status == 0, "\(evaluated.stderr)")
        let reports = try evaluated.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        #expect(reports.compactMap { $0["model"]?.stringValue } == ["retrieval", "retrieval", "blend", "blend", "blend-cf", "blend-cf", "text", "text", "sasrec-text", "sasrec-text"])
        for report in reports {
            #expect(report["cases"] == 3)
            #expect((0...1).contains(report["overall"]?["hit@1"]?.doubleValue ?? -1), "\(report)")
            if ["retrieval", "text", "sasrec-text"].contains(report["model"]?.stringValue) { #expect(report["scoresItemsWithoutInteractions"] == true) }
        }
        // The catalog's item vectors are cached in the bundle and read back by the next evaluation.
        let cache = bundle + "/retrieval.items.safetensors"
        let written = try FileManager.default.attributesOfItem(atPath: cache)[.modificationDate] as? Date
        let second = try CommandLineTests.run(["eval", "--data", data, "--json", "--quiet", "--model", "retrieval:" + bundle])
        #expect(second.status == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: cache)[.modificationDate] as? Date == written)
        #expect(try ALLMRecCommandTests.summary(second)["overall"] == reports[0]["overall"], "the cached vectors score as the computed ones")
        let refused = try CommandLineTests.run(["eval", "--data", data, "--model", "blend:" + data + "/nowhere"])
        #expect(refused.status != 0)
        try servesTheBundle(data: data, bundle: bundle)
        try listens(data: data, sasrec: sasrec, from: bundle + "/retrieval.safetensors")
        try learnsWords(data: data, bundle: bundle)
    }

    /// `train words` on a bundle trained without words: the head is written and named, a rerun
    /// reuses the LM passes, and the daemon then reads the words (`retrieval-words`, `understood.shift`).
    private func learnsWords(data: String, bundle: String) throws {
        let train = ["train", "words", "--data", data, "--bundle", bundle, "--max-samples", "6", "--epochs", "3", "--validation-share", "0.3"]
        let first = try CommandLineTests.run(train + ["--quiet"])
        try #require(first.status == 0, "\(first.stderr)")
        let summary = try ALLMRecCommandTests.summary(first)
        // The fixture's few users give fewer wish samples than asked for.
        let samples = (summary["trainingSamples"]?.intValue ?? 0) + (summary["validationSamples"]?.intValue ?? 0)
        #expect((2...6).contains(samples) && (summary["trainingSamples"]?.intValue ?? 0) > 0, "\(summary)")
        #expect((1...3).contains(summary["keptEpoch"]?.intValue ?? 0) && (summary["lmSamplesPerSecond"]?.doubleValue ?? 0) > 0)
        let manifest = try JSONValue.parse(String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8))
        #expect(manifest["retrievalWords"] == "words.safetensors")
        #expect(manifest["training"]?["words"]?["epochs"] == "3")
        let again = try CommandLineTests.run(train + ["--lr", "0.01"])
        try #require(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("reusing the LM passes of \(samples) samples"), "\(again.stderr)")
        #expect(try ALLMRecCommandTests.summary(again)["lmSamplesPerSecond"] == .null)

        let served = try CommandLineTests.run([
            "chat", "--data", data, "--bundle", bundle, "--history", "1,2", "--json", "--message", ":status", "--message", "something gentle for the skin",
        ])
        try #require(served.status == 0, "\(served.stderr)")
        let lines = try served.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        try #require(lines.count == 2, "\(served.stdout)")
        #expect(lines[0]["capabilities"]?.arrayValue?.contains("retrieval-words") == true, "\(lines[0])")
        let shift = try #require(lines[1]["understood"]?["shift"], "\(lines[1])")
        #expect(!(shift["lifted"]?.arrayValue ?? []).isEmpty || !(shift["lowered"]?.arrayValue ?? []).isEmpty, "\(shift)")
    }

    /// Training with words (and the items' facets in their prompts) from a trained model, the
    /// listening test on it, and the daemon serving it.
    private func listens(data: String, sasrec: String, from trained: String) throws {
        let bundle = data + "/retrieval-wishes"
        let train = try CommandLineTests.run(
            ["train", "retrieval", "--data", data, "--bundle", bundle, "--sasrec", sasrec, "--lm", ALLMRecCommandTests.lm, "--max-users", "4",
             "--batch-size", "2", "--negatives", "in-batch", "--wishes", "1", "--item-facets", "--from", trained, "--quiet"])
        try #require(train.status == 0, "\(train.stderr)")
        let manifest = try JSONValue.parse(String(contentsOfFile: bundle + "/manifest.json", encoding: .utf8))
        #expect(manifest["retrievalWishes"]?.doubleValue == 1)
        #expect(manifest["retrievalTemplate"]?["itemFacets"] == true)
        #expect(manifest["training"]?["retrieval"]?["from"]?.stringValue == trained)
        let listened = try CommandLineTests.run(["listen", "--data", data, "--bundle", bundle, "--json", "--quiet"])
        try #require(listened.status == 0, "\(listened.stderr)")
        let outcome = try JSONValue.parse(listened.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(outcome["trainedWithWishes"]?.doubleValue == 1)
        let conditions = try #require(outcome["all"]?.objectValue)
        // The fixture's test targets have no categories, so only the case without words exists
        // (the conditions with words are tested on MovieLens-100K in TrainingWishesTests).
        #expect(conditions.keys == ["none"])
        #expect(conditions["none"]?["cases"] == 3)
        let missing = try CommandLineTests.run(["listen", "--data", data, "--bundle", bundle, "--paraphrases", data + "/none.json"])
        #expect(missing.status == 1 && missing.stderr.contains("none.json does not exist"), "\(missing.stderr)")

        // Served, the words go into the prompt, and `understood.shift` names what they moved.
        let served = try CommandLineTests.run([
            "chat", "--data", data, "--bundle", bundle, "--history", "1,2", "--json", "--message", "something gentle for the skin",
        ])
        try #require(served.status == 0, "\(served.stderr)")
        let reply = try JSONValue.parse(served.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let shift = try #require(reply["understood"]?["shift"], "\(reply)")
        let lifted = try #require(shift["lifted"]?.arrayValue)
        let lowered = try #require(shift["lowered"]?.arrayValue)
        #expect(!lifted.isEmpty && lifted.count <= 3 && !lowered.isEmpty && lowered.count <= 3, "\(shift)")
        let moved = (lifted + lowered).compactMap { $0["itemId"]?.intValue }
        #expect(Set(moved).count == moved.count, "an item is lifted or lowered, not both: \(shift)")
        #expect((lifted + lowered).allSatisfy { !($0["title"]?.stringValue ?? "").isEmpty }, "\(shift)")
    }

    /// The daemon serving the bundle: SASRec, and the LM scoring every item of the live catalog
    /// through retrieval (an added item as soon as it is added) at the blend's ratio of retrieval
    /// to SASRec (0.5 / 2).
    private func servesTheBundle(data: String, bundle: String) throws {
        let path = bundle + "/manifest.json"
        var manifest = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        manifest["blend"] = ["sasrec": 2.0, "cooccurrence": 1.0, "text": 0.0, "retrieval": 0.5]
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: path))
        let served = try CommandLineTests.run([
            "chat", "--data", data, "--bundle", bundle, "--history", "1,2", "-k", "100", "--json", "--message", ":status",
            "--message", "something new", "--message", ":add Lavender Soap | A gentle soap that smells of lavender", "--message", "lavender soap",
        ])
        try #require(served.status == 0, "\(served.stderr)")
        let lines = try served.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        try #require(lines.count == 4, "\(served.stdout)")
        let status = lines[0]
        #expect(status["capabilities"]?.arrayValue?.contains("retrieval") == true, "\(status)")
        #expect(status["recommender"]?["name"] == "sasrec")
        #expect(status["bundle"]?["retrieval"] == true)
        #expect(status["bundle"]?["languageModelWeight"]?.doubleValue == 0.25, "\(status)")
        // Every item of the catalog but the history has the LM's score.
        let catalogSize = try #require(status["catalogSize"]?.intValue)
        let first = try #require(lines[1]["items"]?.arrayValue)
        #expect(first.count == catalogSize - 2, "\(first)")
        #expect(first.allSatisfy { $0["scores"]?["languageModel"]?.doubleValue != nil }, "\(first)")
        #expect(lines[2]["note"]?.stringValue?.hasPrefix("added Lavender Soap") == true, "\(lines[2])")
        let asked = try #require(lines[3]["items"]?.arrayValue)
        let soap = try #require(asked.first { $0["title"] == "Lavender Soap" }, "the added item is ranked")
        #expect(soap["scores"]?["languageModel"]?.doubleValue != nil)
        #expect(lines[3]["understood"]?["shift"] == nil, "a model not trained with words does not read them")
    }
}
