import Checkpoints
import Foundation
import Numerics
import Testing

/// Hand-written pickles, wrapped in a valid archive by `ZipBuilder`, for the opcodes and failures
/// that the torch fixtures do not reach.
@Suite struct PickleTests {
    /// Pickle opcode builders (names as in CPython's pickletools).
    enum Op {
        static let proto2: [UInt8] = [0x80, 0x02]
        static let mark: [UInt8] = [0x28], stop: [UInt8] = [0x2E], none: [UInt8] = [0x4E]
        static let emptyDict: [UInt8] = [0x7D], emptyList: [UInt8] = [0x5D], emptyTuple: [UInt8] = [0x29]
        static let setItem: [UInt8] = [0x73], setItems: [UInt8] = [0x75], append: [UInt8] = [0x61], appends: [UInt8] = [0x65]
        static let tuple: [UInt8] = [0x74], tuple1: [UInt8] = [0x85], tuple2: [UInt8] = [0x86], tuple3: [UInt8] = [0x87]
        static let reduce: [UInt8] = [0x52], newObj: [UInt8] = [0x81], build: [UInt8] = [0x62], persistentId: [UInt8] = [0x51]

        static func string(_ text: String) -> [UInt8] { [0x58] + ZipBuilder.le32(UInt32(text.utf8.count)) + Array(text.utf8) }
        static func shortString(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }
        static func int1(_ value: UInt8) -> [UInt8] { [0x4B, value] }
        static func int(_ value: Int32) -> [UInt8] { [0x4A] + ZipBuilder.le32(UInt32(bitPattern: value)) }
        static func global(_ module: String, _ name: String) -> [UInt8] { [0x63] + Array("\(module)\n\(name)\n".utf8) }
        static func ints(_ values: [Int]) -> [UInt8] { mark + values.flatMap { int(Int32($0)) } + tuple }

        /// `('storage', torch.<type>, key, 'cpu', numel)` as BINPERSID.
        static func storage(_ type: String, key: String, count: Int) -> [UInt8] {
            mark + string("storage") + global("torch", type) + string(key) + string("cpu") + int(Int32(count)) + tuple
                + persistentId
        }

        /// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`.
        static func tensor(_ type: String, key: String, count: Int, offset: Int, size: [Int], stride: [Int]) -> [UInt8] {
            global("torch._utils", "_rebuild_tensor_v2") + mark + storage(type, key: key, count: count) + int(Int32(offset))
                + ints(size) + ints(stride) + [0x89] + global("collections", "OrderedDict") + emptyTuple + reduce + tuple + reduce
        }
    }

    static func read(_ pickle: [UInt8], storages: [String: [UInt8]] = [:], _ label: String = #function) throws(CheckpointError)
        -> PyTorchCheckpoint
    {
        let bytes = ZipBuilder.checkpoint(pickle: pickle, storages: ZipBuilder.storageEntries(storages))
        return try PyTorchCheckpoint(path: Support.write(bytes, to: Support.scratchDirectory(label), name: "x.pth"))
    }

    /// The error that reading `pickle` throws, with the path left out.
    static func failure(_ pickle: [UInt8], storages: [String: [UInt8]] = [:]) -> String {
        do {
            _ = try read(pickle, storages: storages)
            return "no error"
        } catch {
            return switch error {
            case .malformedPickle(_, let reason, let offset): "malformed at \(offset): \(reason)"
            case .unsupportedPickle(_, let opcode, let offset): "unsupported 0x\(String(opcode, radix: 16)) at \(offset)"
            case .notAPyTorchCheckpoint(_, let reason): "not a checkpoint: \(reason)"
            default: "\(error)"
            }
        }
    }

    static func floats(_ values: [Float]) -> [UInt8] { values.flatMap { ZipBuilder.le32($0.bitPattern) } }

    @Test func readsEveryOpcodeOfTheSubset() throws {
        var p = Op.proto2 + [0x95] + [UInt8](repeating: 0, count: 8) + Op.emptyDict + [0x94] + Op.mark
        p += Op.string("ints") + Op.emptyList + Op.mark + Op.int(-5) + Op.int1(200) + [0x4D, 0x60, 0xEA]
        p += [0x8A, 0x02, 0x00, 0x80] + [0x8A, 0x06, 0, 0, 0, 0, 0, 0x01] + [0x8B, 0, 0, 0, 0]
        p += [0x8A, 0x09] + [UInt8](repeating: 0xFF, count: 9) + Op.appends
        p += Op.string("scalars") + [0x47] + withUnsafeBytes(of: (1.5).bitPattern.bigEndian) { Array($0) } + [0x88] + Op.none + Op.tuple3
        p += Op.string("bytes") + Op.mark + [0x43, 2, 0x61, 0x62] + [0x42] + ZipBuilder.le32(1) + [0x63] + [0x8E] + [UInt8](repeating: 0, count: 8) + [0x6C]
        p += Op.string("strings") + Op.shortString("é") + [0x8D] + ZipBuilder.le32(4) + ZipBuilder.le32(0) + Array("long".utf8) + Op.tuple2
        p += Op.string("memo") + Op.string("x") + [0x72] + ZipBuilder.le32(1000) + [0x6A] + ZipBuilder.le32(1000) + Op.tuple2
        p += Op.string("dict") + Op.mark + Op.string("k") + Op.int1(1) + [0x64]
        p += Op.string("object") + Op.shortString("mod") + Op.shortString("Cls") + [0x93] + Op.emptyTuple + Op.newObj
        p += Op.emptyDict + Op.string("a") + Op.int1(3) + Op.setItem + Op.build
        p += Op.string("reduced") + Op.global("builtins", "set") + Op.emptyList + Op.int1(4) + Op.append + Op.tuple1 + Op.reduce
        p += Op.string("bare") + Op.global("torch", "float32")
        p += Op.string("defaultdict") + Op.global("collections", "defaultdict") + Op.global("builtins", "list") + Op.tuple1 + Op.reduce
        p += Op.string("k") + Op.none + Op.setItem
        p += Op.string("popped") + Op.int1(1) + [0x30] + Op.mark + [0x30] + Op.int1(2)
        p += Op.string("dup") + Op.int1(1) + Op.string("dup") + Op.int1(2)
        p += Op.setItems + Op.stop
        let root = try Self.read(p).root
        let expected: PickleValue = .dict([
            (.string("ints"), .list([.int(-5), .int(200), .int(60000), .int(-32768), .int(1 << 40), .int(0), .int(-1)])),
            (.string("scalars"), .tuple([.double(1.5), .bool(true), .none])),
            (.string("bytes"), .list([.bytes([0x61, 0x62]), .bytes([0x63]), .bytes([])])),
            (.string("strings"), .tuple([.string("é"), .string("long")])),
            (.string("memo"), .tuple([.string("x"), .string("x")])),
            (.string("dict"), .dict([(.string("k"), .int(1))])),
            (.string("object"), .object(className: "mod.Cls", args: [], state: .dict([(.string("a"), .int(3))]))),
            (.string("reduced"), .object(className: "builtins.set", args: [.list([.int(4)])], state: nil)),
            (.string("bare"), .object(className: "torch.float32", args: [], state: nil)),
            (.string("defaultdict"), .dict([(.string("k"), .none)])),
            (.string("popped"), .int(2)),
            (.string("dup"), .int(2)),
        ])
        #expect(root == expected)
    }

    @Test func rebuildsTensorsFromStoragesAndStrides() throws {
        let storage = Self.floats([1, 2, 3, 4, 5, 6])
        var p = Op.proto2 + Op.emptyDict + Op.mark
        p += Op.string("view") + Op.tensor("FloatStorage", key: "0", count: 6, offset: 1, size: [2, 2], stride: [1, 2])
        p += Op.string("parameter") + Op.global("torch._utils", "_rebuild_parameter") + Op.mark
        p += Op.tensor("FloatStorage", key: "0", count: 6, offset: 4, size: [2], stride: [1]) + [0x88] + Op.emptyDict + Op.tuple + Op.reduce
        p += Op.string("ids") + Op.tensor("IntStorage", key: "1", count: 2, offset: 0, size: [2], stride: [1])
        p += Op.setItems + Op.stop
        let checkpoint = try Self.read(p, storages: ["0": storage, "1": ZipBuilder.le32(7) + ZipBuilder.le32(UInt32(bitPattern: -3))])
        #expect(checkpoint.root["view"] == .tensor(Tensor(shape: [2, 2], storage: [2, 4, 3, 5])))
        #expect(checkpoint.root["parameter"] == .tensor(Tensor(shape: [2], storage: [5, 6])))
        #expect(checkpoint.root["ids"] == .integerTensor(shape: [2], values: [7, -3]))
        let tensors = try checkpoint.stateDict()
        #expect(tensors.map(\.name) == ["view", "parameter", "ids"])
        #expect(tensors[2].tensor == Tensor(shape: [2], storage: [7, -3]))
    }

    @Test func findsTheStateDictAsTheLastDictOfTensors() throws {
        let tensor = Op.tensor("FloatStorage", key: "0", count: 1, offset: 0, size: [], stride: [])
        var p = Op.proto2 + Op.mark + Op.emptyDict + Op.string("a") + Op.int1(1) + Op.setItem
        p += Op.emptyDict + Op.string("w") + tensor + Op.setItem + Op.int1(9) + Op.tuple + Op.stop
        let checkpoint = try Self.read(p, storages: ["0": Self.floats([0.5])])
        #expect(try checkpoint.stateDict().map(\.name) == ["w"])
        #expect(checkpoint.kwargs == .dict([(.string("a"), .int(1))]))

        let notTensors = try Self.read(Op.proto2 + Op.mark + Op.int1(1) + Op.emptyDict + Op.string("a") + Op.none + Op.setItem + [0x6C] + Op.stop)
        #expect(throws: CheckpointError.noStateDict(path: notTensors.path, reason: "no dict whose keys are all strings and whose values are all tensors")) {
            try notTensors.stateDict()
        }
        let scalar = try Self.read(Op.proto2 + Op.int1(1) + Op.stop)
        #expect(throws: CheckpointError.noStateDict(path: scalar.path, reason: "the saved object is neither a dict nor a list or tuple")) {
            try scalar.stateDict()
        }
    }

    @Test func reportsMalformedProgramsWithTheirOffsets() {
        let storage = ["0": Self.floats([1, 2])]
        let cases: [(pickle: [UInt8], storages: [String: [UInt8]], failure: String)] = [
            (Op.proto2 + [0x49] + Array("1\n".utf8) + Op.stop, [:], "unsupported 0x49 at 2"),
            (Op.proto2 + Op.stop, [:], "malformed at 2: stack underflow"),
            (Op.proto2 + Op.mark + Op.stop, [:], "malformed at 3: stack underflow"),
            (Op.proto2 + [0x68, 5] + Op.stop, [:], "malformed at 2: memo key 5 was never stored"),
            (Op.proto2 + Op.none, [:], "malformed at 3: data.pkl ends before STOP or inside an opcode's argument"),
            (Op.proto2 + [0x58, 0xFF, 0xFF, 0, 0, 0x41] + Op.stop, [:], "malformed at 7: data.pkl ends before STOP or inside an opcode's argument"),
            ([0x80, 0x06] + Op.none + Op.stop, [:], "malformed at 0: pickle protocol 6 is newer than 5"),
            (Op.proto2 + [0x8A, 9, 1, 0, 0, 0, 0, 0, 0, 0, 1] + Op.stop, [:], "malformed at 2: integer wider than 64 bits"),
            (Op.proto2 + [0x8B] + ZipBuilder.le32(UInt32(bitPattern: -1)) + Op.stop, [:], "malformed at 2: negative LONG4 length"),
            (Op.proto2 + Op.tuple + Op.stop, [:], "malformed at 2: no MARK to close"),
            (Op.proto2 + Op.emptyList + Op.none + Op.none + Op.setItem + Op.stop, [:], "malformed at 5: SETITEM on a value that is not a dict"),
            (Op.proto2 + Op.emptyDict + Op.none + Op.append + Op.stop, [:], "malformed at 4: APPEND to a value that is not a list"),
            (Op.proto2 + Op.mark + Op.none + [0x64] + Op.stop, [:], "malformed at 4: odd number of items for a dict"),
            (Op.proto2 + Op.none + Op.emptyTuple + Op.reduce + Op.stop, [:], "malformed at 4: call of a value that is not a global"),
            (Op.proto2 + Op.global("a", "b") + Op.none + Op.reduce + Op.stop, [:], "malformed at 8: arguments of a.b are not a tuple"),
            (Op.proto2 + Op.none + Op.none + [0x93] + Op.stop, [:], "malformed at 4: STACK_GLOBAL operands are not strings"),
            (Op.proto2 + Op.none + Op.persistentId + Op.stop, [:], "malformed at 3: persistent id is not ('storage', storage_type, key, location, numel)"),
            (Op.proto2 + Op.storage("FloatStorage", key: "9", count: 1) + Op.stop, [:], "not a checkpoint: storage archive/data/9 is missing"),
            (Op.proto2 + Op.storage("FloatStorage", key: "0", count: 3) + Op.stop, storage,
             "not a checkpoint: storage data/0 holds 8 bytes, fewer than 3 elements of torch.FloatStorage"),
            (Op.proto2 + Op.tensor("FloatStorage", key: "0", count: 2, offset: 1, size: [2], stride: [1]) + Op.stop, storage,
             "malformed at 138: tensor view (offset 1, size [2], stride [1]) exceeds storage data/0 of 2 elements"),
            (Op.proto2 + Op.tensor("FloatStorage", key: "0", count: 2, offset: 0, size: [-1], stride: [1]) + Op.stop, storage,
             "malformed at 138: invalid tensor view: offset 0, size [-1], stride [1]"),
            (Op.proto2 + Op.global("torch._utils", "_rebuild_tensor_v2") + Op.emptyTuple + Op.reduce + Op.stop, [:],
             "malformed at 36: torch._utils._rebuild_tensor_v2 expects (storage, storage_offset, size, stride, ...)"),
        ]
        for (pickle, storages, failure) in cases {
            #expect(Self.failure(pickle, storages: storages) == failure)
        }
    }

    @Test func rejectsCyclesAndExponentialSharing() {
        // A list that contains itself.
        let cycle = Op.proto2 + Op.emptyList + [0x71, 0, 0x68, 0] + Op.append + Op.stop
        #expect(Self.failure(cycle) == "malformed at 8: values nested deeper than 512 levels (or a reference cycle)")
        // t = (t, t) 30 times: 2^30 references to a few objects.
        var shared = Op.proto2 + Op.none + [0x71, 0]
        for _ in 0..<30 { shared += [0x68, 0, 0x68, 0] + Op.tuple2 + [0x71, 0, 0x30] }
        shared += [0x68, 0] + Op.stop
        #expect(Self.failure(shared).hasSuffix("more than 10000000 values"))
    }
}
