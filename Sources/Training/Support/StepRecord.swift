import Checkpoints
import Models
import Numerics

/// A short training run as one safetensors file that another framework can replay step for step
/// (`scripts/bench-training.py` does, in PyTorch): the weights before the first step, every step's
/// samples, and the first step's loss and gradients. Integers (token ids, positions, item ids) are
/// stored as F32, exact below 2^24. Everything stays in memory until `write`, so it is meant for
/// runs of a few steps (`--max-users`): steps after the first `stepLimit` are not recorded. Not
/// thread-safe.
public struct StepRecord {
    /// The most steps a record holds.
    public static let stepLimit = 64

    public private(set) var tensors: [(name: String, tensor: Tensor)] = []
    /// Written as the file's metadata; `recipe` names the layout.
    public private(set) var metadata: [String: String]
    /// Steps added so far.
    public private(set) var steps = 0

    init(recipe: String, schedule: TrainingSchedule) {
        metadata = [
            "recipe": recipe, "lr": "\(schedule.learningRate)", "beta1": "\(schedule.beta1)", "beta2": "\(schedule.beta2)",
            "integers": "stored as F32",
        ]
    }

    /// Writes the file (atomically, as every safetensors file here).
    public func write(to path: String) throws {
        var metadata = metadata
        metadata["steps"] = String(steps)
        try SafetensorsFile.write(tensors: tensors, metadata: metadata, to: path)
    }

    mutating func add(_ name: String, _ values: [Float], shape: [Int]? = nil) {
        tensors.append((name, Tensor(shape: shape ?? [values.count], storage: values)))
    }

    mutating func add<Integers: Collection>(_ name: String, integers: Integers) where Integers.Element: BinaryInteger {
        add(name, integers.map { Float($0) })
    }

    mutating func add(_ prefix: String, projector: SoftPromptProjector) {
        for parameter in projector.namedParameters { add(prefix + parameter.name, parameter.values, shape: parameter.shape) }
    }

    mutating func add(_ prefix: String, gradients: SoftPromptProjector.Gradients, of projector: SoftPromptProjector) {
        for (parameter, values) in zip(projector.namedParameters, gradients.values) {
            add(prefix + parameter.name, values, shape: parameter.shape)
        }
    }
}

extension StepRecord {
    /// A-LLMRec stage 2 (recipe `stage2`): `user_proj.*` and `item_proj.*` (plus `.scale` when the
    /// projectors scale their output) before the first step; for step k and sample b
    /// `step{k}.sample{b}.tokens` (a placeholder at soft positions), `.answer_start`,
    /// `.user_position` and `.user` (when the prompt has a user slot), `.slot_positions` and
    /// `.slot_latents` ([slots, 128], in position order); for the first step `expected.loss` and
    /// `grad.user_proj.*`, `grad.item_proj.*` (the token-level mean cross-entropy of the batch).
    public init(stage2 trainer: Stage2Trainer) {
        self.init(recipe: "stage2", schedule: trainer.options.schedule)
        for (prefix, projector) in [("user_proj.", trainer.projectors.user), ("item_proj.", trainer.projectors.item)] {
            add(prefix, projector: projector)
            if projector.outputScale != 1 { add(prefix + "scale", [projector.outputScale]) }
        }
    }

    /// Adds a step of `trainer` (whose projectors give the gradients' names and shapes).
    public mutating func add(_ report: Stage2Trainer.StepReport, of trainer: Stage2Trainer) {
        guard steps < Self.stepLimit else { return }
        let projectors = trainer.projectors
        let latent = TwoLayerMLP.latentSize
        for (index, example) in report.batch.enumerated() {
            let prefix = "step\(steps).sample\(index)."
            let sequence = example.sequence
            add(prefix + "tokens", integers: sequence.tokens)
            add(prefix + "answer_start", integers: [sequence.answerStart])
            var positions: [Int] = []
            var latents: [Float] = []
            for (position, slot) in sequence.slots {
                switch slot {
                case .user:
                    add(prefix + "user_position", integers: [position])
                    add(prefix + "user", example.user)
                case .history(let row):
                    positions.append(position)
                    latents += example.historyLatents[(row * latent)..<((row + 1) * latent)]
                case .candidate(let row):
                    positions.append(position)
                    latents += example.candidateLatents[(row * latent)..<((row + 1) * latent)]
                }
            }
            add(prefix + "slot_positions", integers: positions)
            add(prefix + "slot_latents", latents, shape: [positions.count, latent])
        }
        if steps == 0 {
            add("expected.loss", [report.loss])
            add("grad.user_proj.", gradients: report.gradients.user, of: projectors.user)
            add("grad.item_proj.", gradients: report.gradients.item, of: projectors.item)
        }
        steps += 1
    }
}

extension StepRecord {
    /// Retrieval through the LM (recipe `retrieval`, the layout of
    /// `scripts/make-retrieval-fixtures.py` per step): the weights (`item_proj.*`, `user_out`,
    /// `item_out`, `pred_user.*`, `pred_item.*`, `pred_user_cf.*`, and `user_proj.*` with a user-vector
    /// token) before the first step and SASRec's item table `items` ([items + 1, cf]); for step k,
    /// user b and unique candidate c `step{k}.user{b}.tokens`, `.soft_positions`, `.soft_items`,
    /// `.user_position` and `.user_vector` (when the prompt has a user-vector token), `.teacher`, `.interacted`,
    /// `.candidates` (indices of c, target first), `.distils` (1 or 0) and `step{k}.candidate{c}.tokens`, `.item`,
    /// `.soft_positions`; for the first step `expected.loss`, `.ce`, `.distil`, `.uniform` and
    /// `grad.*` of every weight. The metadata says how candidates are scored (`in_batch`,
    /// `temperature`, empty for the dot product) and the loss weights.
    public init(retrieval trainer: RetrievalTrainer) {
        self.init(recipe: "retrieval", schedule: trainer.options.schedule)
        let objective = trainer.objectiveOptions
        metadata["in_batch"] = objective.inBatchNegatives ? "1" : "0"
        metadata["temperature"] = objective.temperature.map { "\($0)" } ?? ""
        metadata["distillation_weight"] = "\(objective.distillationWeight)"
        metadata["uniformity_weight"] = "\(objective.uniformityWeight)"
        for (name, tensor) in trainer.weights.namedTensors { tensors.append((name, tensor)) }
        let table = trainer.sasrec.itemEmbeddings
        let cf = trainer.sasrec.configuration.hiddenUnits
        add("items", table, shape: [table.count / cf, cf])
    }

    /// Adds a step of `trainer` (whose builder gives the candidates' prompts).
    public mutating func add(_ report: RetrievalTrainer.StepReport, of trainer: RetrievalTrainer) {
        guard steps < Self.stepLimit else { return }
        let weights = trainer.weights
        var entries: [RetrievalCandidate] = []
        var entryIndex: [RetrievalCandidate: Int] = [:]
        for (index, example) in report.batch.enumerated() {
            let prefix = "step\(steps).user\(index)."
            let prompt = example.userPrompt
            add(prefix + "tokens", integers: prompt.tokens)
            add(prefix + "soft_positions", integers: prompt.softTokens.map(\.position))
            add(prefix + "soft_items", integers: prompt.softTokens.map(\.item))
            if let slot = prompt.userSlot {
                add(prefix + "user_position", integers: [slot.position])
                add(prefix + "user_vector", slot.vector)
            }
            add(prefix + "teacher", example.teacherInput)
            add(prefix + "interacted", integers: example.interacted.sorted())
            let indices = example.candidates.map { candidate in
                if let known = entryIndex[candidate] { return known }
                entryIndex[candidate] = entries.count
                entries.append(candidate)
                return entries.count - 1
            }
            add(prefix + "candidates", integers: indices)
            add(prefix + "distils", integers: [example.distils ? 1 : 0])
        }
        for (index, candidate) in entries.enumerated() {
            let prefix = "step\(steps).candidate\(index)."
            let prompt = trainer.builder.itemPrompt(candidate.item, softToken: candidate.softToken)
            add(prefix + "tokens", integers: prompt.tokens)
            add(prefix + "item", integers: [candidate.item])
            add(prefix + "soft_positions", integers: prompt.softTokens.map(\.position))
        }
        if steps == 0 {
            add("expected.loss", [report.loss])
            add("expected.ce", [report.retrieval])
            add("expected.distil", [report.distillation])
            add("expected.uniform", [report.uniformity])
            let gradients = report.gradients
            add("grad.item_proj.", gradients: gradients.itemProjector, of: weights.itemProjector)
            add("grad.pred_user.", gradients: gradients.userHead, of: weights.userHead)
            add("grad.pred_item.", gradients: gradients.itemHead, of: weights.itemHead)
            add("grad.pred_user_cf.", gradients: gradients.teacherHead, of: weights.teacherHead)
            if let projector = weights.userProjector, let gradient = gradients.userProjector {
                add("grad.user_proj.", gradients: gradient, of: projector)
            }
            add("grad.user_out", gradients.userOut)
            add("grad.item_out", gradients.itemOut)
        }
        steps += 1
    }
}
