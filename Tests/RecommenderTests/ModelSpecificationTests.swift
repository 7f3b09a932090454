import Recommender
import Testing

@Suite struct ModelSpecificationTests {
    @Test func parsesEveryKindOfModel() throws {
        #expect(try ModelSpecification(parsing: "pop") == .popularity)
        #expect(try ModelSpecification(parsing: "sasrec:/m.safetensors") == .sasrec(path: "/m.safetensors"))
        #expect(try ModelSpecification(parsing: "allmrec:/b") == .allmrec(mode: .ranking, bundle: "/b"))
        #expect(try ModelSpecification(parsing: "stage1:/b") == .allmrec(mode: .stage1Retrieval, bundle: "/b"))
        #expect(try ModelSpecification(parsing: "allmrec-blend:/b") == .blend(weight: 0.1, bundle: "/b"))
        #expect(try ModelSpecification(parsing: "allmrec-blend@0.5:/b") == .blend(weight: 0.5, bundle: "/b"))
        #expect(try ModelSpecification(parsing: "allmrec-blend@0.5:/b").name == "allmrec-blend@0.5")
        #expect(try ModelSpecification(parsing: "sasrec-text:/b") == .sasrecText(bundle: "/b"))
        #expect(try ModelSpecification(parsing: "sasrec-text:/b").name == "sasrec-text")
    }

    @Test func refusesMalformedNames() {
        for text in ["sasrec:", "allmrec-blend@:/b", "allmrec-blend@-1:/b", "allmrec-blend@x:/b", "allmrec-blendy:/b", "allmrec-blend:", "sasrec-text:", "bert"] {
            #expect(throws: ModelSpecificationError.self, "\(text)") { try ModelSpecification(parsing: text) }
        }
    }
}
