import Numerics

/// A storage named by a `('storage', storage_type, key, location, numel)` persistent id, with the
/// bytes of its `data/<key>` archive entry.
struct TorchStorage {
    /// The storage class as `module.name`, e.g. `torch.FloatStorage`.
    let typeName: String
    /// nil for storage types this reader does not convert (complex, quantised, float8, ...).
    let dtype: DType?
    let key: String
    let location: String
    let elementCount: Int
    /// At least `elementCount * dtype.byteCount` bytes when `dtype` is known.
    let bytes: UnsafeRawBufferPointer

    static let dtypes: [String: DType] = [
        "torch.FloatStorage": .f32, "torch.HalfStorage": .f16, "torch.BFloat16Storage": .bf16,
        "torch.DoubleStorage": .f64, "torch.LongStorage": .i64, "torch.IntStorage": .i32,
        "torch.ShortStorage": .i16, "torch.CharStorage": .i8, "torch.ByteStorage": .u8, "torch.BoolStorage": .bool,
    ]
}

/// The subset of the pickle virtual machine (protocols 2 to 5) that `torch.save` state dicts use.
///
/// Runs `data.pkl` over a value stack, a mark stack and a memo, resolving storages through
/// `loadStorage` and rebuilding tensors as `torch._utils._rebuild_tensor_v2` describes them. Lists,
/// dicts and objects are reference boxes while the program runs, because later opcodes (APPENDS,
/// SETITEMS, BUILD) mutate values that the memo also holds; STOP converts the result to a
/// `PickleValue`. Every read is bounds-checked and every stack operation checked, so a corrupt program
/// throws `.malformedPickle` (or `.unsupportedPickle` for an opcode outside the subset).
struct Unpickler {
    /// Deepest nesting of containers accepted when converting the result; deeper means a cycle or an attack.
    static let maximumDepth = 512
    /// Most values in the converted result; a shared sub-value counts once per reference.
    static let maximumValues = 10_000_000
    /// Most elements in one rebuilt tensor (16 GiB as Float32).
    static let maximumTensorElements = 1 << 32

    private final class ListBox {
        var items: [Node]
        init(_ items: [Node]) { self.items = items }
    }

    private final class DictBox {
        var entries: [(key: Node, value: Node)] = []
        /// Positions of string and int keys in `entries`, so that a repeated key replaces its value.
        var stringKeys: [String: Int] = [:]
        var intKeys: [Int: Int] = [:]
    }

    private final class ObjectBox {
        let className: String
        let args: [Node]
        var state: Node?
        init(className: String, args: [Node]) { (self.className, self.args) = (className, args) }
    }

    private enum Node {
        case leaf(PickleValue)
        case tuple([Node])
        case list(ListBox)
        case dict(DictBox)
        case object(ObjectBox)
        /// A class or function reference, `module.name`.
        case global(String)
        case storage(TorchStorage)
    }

    let path: String
    private var reader: ByteReader
    private let loadStorage: (_ key: String) throws(CheckpointError) -> UnsafeRawBufferPointer
    private var stack: [Node] = []
    /// Stack heights at each open MARK.
    private var marks: [Int] = []
    private var memo: [Int: Node] = [:]
    private var storages: [String: TorchStorage] = [:]
    /// Offset of the opcode being executed, for error messages.
    private var opcodeOffset = 0
    private var valueBudget = Self.maximumValues

    /// - program: the bytes of `data.pkl`, alive until `run()` returns.
    /// - loadStorage: the bytes of archive entry `data/<key>`; throws when it is missing or damaged.
    init(program: UnsafeRawBufferPointer, path: String,
         loadStorage: @escaping (_ key: String) throws(CheckpointError) -> UnsafeRawBufferPointer) {
        self.path = path
        self.loadStorage = loadStorage
        reader = ByteReader(program) { offset in
            .malformedPickle(path: path, reason: "data.pkl ends before STOP or inside an opcode's argument", offset: offset)
        }
    }

    /// Executes the program up to STOP and returns the value on top of the stack.
    mutating func run() throws(CheckpointError) -> PickleValue {
        while true {
            opcodeOffset = reader.offset
            let opcode = try reader.u8()
            switch opcode {
            case 0x80:  // PROTO
                let version = try reader.u8()
                guard version <= 5 else { throw malformed("pickle protocol \(version) is newer than 5") }
            case 0x95: _ = try reader.u64()  // FRAME: framing only groups opcodes for buffered reading
            case 0x28: marks.append(stack.count)  // MARK
            case 0x7D: stack.append(.dict(DictBox()))  // EMPTY_DICT
            case 0x5D: stack.append(.list(ListBox([])))  // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))  // EMPTY_TUPLE
            case 0x4E: stack.append(.leaf(.none))  // NONE
            case 0x88: stack.append(.leaf(.bool(true)))  // NEWTRUE
            case 0x89: stack.append(.leaf(.bool(false)))  // NEWFALSE
            case 0x4A: stack.append(.leaf(.int(Int(Int32(bitPattern: try reader.u32())))))  // BININT
            case 0x4B: stack.append(.leaf(.int(Int(try reader.u8()))))  // BININT1
            case 0x4D: stack.append(.leaf(.int(Int(try reader.u16()))))  // BININT2
            case 0x8A: stack.append(.leaf(.int(try long(Int(try reader.u8())))))  // LONG1
            case 0x8B: stack.append(.leaf(.int(try long(Int(Int32(bitPattern: try reader.u32()))))))  // LONG4
            case 0x47:  // BINFLOAT, big-endian
                let bits = UInt64(bigEndian: try reader.take(8).loadUnaligned(as: UInt64.self))
                stack.append(.leaf(.double(Double(bitPattern: bits))))
            case 0x8C: stack.append(.leaf(.string(try text(Int(try reader.u8())))))  // SHORT_BINUNICODE
            case 0x58: stack.append(.leaf(.string(try text(Int(try reader.u32())))))  // BINUNICODE
            case 0x8D: stack.append(.leaf(.string(try text(length(try reader.u64())))))  // BINUNICODE8
            case 0x43: stack.append(.leaf(.bytes(Array(try reader.take(Int(try reader.u8()))))))  // SHORT_BINBYTES
            case 0x42: stack.append(.leaf(.bytes(Array(try reader.take(Int(try reader.u32()))))))  // BINBYTES
            case 0x8E: stack.append(.leaf(.bytes(Array(try reader.take(length(try reader.u64()))))))  // BINBYTES8
            case 0x74: stack.append(.tuple(try popMark()))  // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))  // TUPLE1
            case 0x86:  // TUPLE2
                let second = try pop()
                stack.append(.tuple([try pop(), second]))
            case 0x87:  // TUPLE3
                let third = try pop()
                let second = try pop()
                stack.append(.tuple([try pop(), second, third]))
            case 0x6C: stack.append(.list(ListBox(try popMark())))  // LIST
            case 0x64:  // DICT
                let dict = DictBox()
                try insert(try popMark(), into: dict)
                stack.append(.dict(dict))
            case 0x65: try append(try popMark())  // APPENDS
            case 0x61: try append([try pop()])  // APPEND
            case 0x75: try setItems(try popMark())  // SETITEMS
            case 0x73:  // SETITEM
                let value = try pop()
                try setItems([try pop(), value])
            case 0x30:  // POP: drops the top item, or the innermost mark when nothing lies above it
                if let mark = marks.last, mark == stack.count { marks.removeLast() } else { _ = try pop() }
            case 0x71: memo[Int(try reader.u8())] = try top()  // BINPUT
            case 0x72: memo[Int(try reader.u32())] = try top()  // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()  // MEMOIZE
            case 0x68: stack.append(try recall(Int(try reader.u8())))  // BINGET
            case 0x6A: stack.append(try recall(Int(try reader.u32())))  // LONG_BINGET
            case 0x63:  // GLOBAL
                let module = try line()
                stack.append(.global(module + "." + (try line())))
            case 0x93:  // STACK_GLOBAL
                let name = try pop()
                let module = try pop()
                guard case .leaf(.string(let moduleName)) = module, case .leaf(.string(let globalName)) = name else {
                    throw malformed("STACK_GLOBAL operands are not strings")
                }
                stack.append(.global(moduleName + "." + globalName))
            case 0x52, 0x81:  // REDUCE (callable, args), NEWOBJ (class, args)
                let args = try pop()
                stack.append(try call(try pop(), args))
            case 0x62:  // BUILD
                let state = try pop()
                if case .object(let object) = try top() { object.state = state }
                // Dicts (OrderedDict's `_metadata`) and other values keep no attributes.
            case 0x51: stack.append(try persistentLoad(try pop()))  // BINPERSID
            case 0x2E: return try value(try pop(), depth: 0)  // STOP
            default: throw .unsupportedPickle(path: path, opcode: opcode, offset: opcodeOffset)
            }
        }
    }

    // MARK: Stack

    private func malformed(_ reason: String) -> CheckpointError {
        .malformedPickle(path: path, reason: reason, offset: opcodeOffset)
    }

    private mutating func pop() throws(CheckpointError) -> Node {
        guard stack.count > (marks.last ?? 0) else { throw malformed("stack underflow") }
        return stack.removeLast()
    }

    private func top() throws(CheckpointError) -> Node {
        guard let last = stack.last, stack.count > (marks.last ?? 0) else { throw malformed("stack underflow") }
        return last
    }

    /// The items above the innermost mark, which is removed.
    private mutating func popMark() throws(CheckpointError) -> [Node] {
        guard let mark = marks.popLast() else { throw malformed("no MARK to close") }
        let items = Array(stack[mark...])
        stack.removeSubrange(mark...)
        return items
    }

    private func recall(_ key: Int) throws(CheckpointError) -> Node {
        guard let node = memo[key] else { throw malformed("memo key \(key) was never stored") }
        return node
    }

    private mutating func append(_ items: [Node]) throws(CheckpointError) {
        guard case .list(let list) = try top() else { throw malformed("APPEND to a value that is not a list") }
        list.items.append(contentsOf: items)
    }

    private mutating func setItems(_ items: [Node]) throws(CheckpointError) {
        guard case .dict(let dict) = try top() else { throw malformed("SETITEM on a value that is not a dict") }
        try insert(items, into: dict)
    }

    /// Adds alternating keys and values; a repeated key replaces the value in place, as in Python.
    private func insert(_ items: [Node], into dict: DictBox) throws(CheckpointError) {
        guard items.count % 2 == 0 else { throw malformed("odd number of items for a dict") }
        for pair in stride(from: 0, to: items.count, by: 2) {
            let (key, value) = (items[pair], items[pair + 1])
            var existing: Int?
            switch key {
            case .leaf(.string(let string)):
                existing = dict.stringKeys[string]
                if existing == nil { dict.stringKeys[string] = dict.entries.count }
            case .leaf(.int(let int)):
                existing = dict.intKeys[int]
                if existing == nil { dict.intKeys[int] = dict.entries.count }
            default: break
            }
            if let existing { dict.entries[existing].value = value } else { dict.entries.append((key, value)) }
        }
    }

    // MARK: Arguments

    private func length(_ value: UInt64) -> Int { Int(exactly: value) ?? Int.max }

    private mutating func text(_ count: Int) throws(CheckpointError) -> String {
        String(decoding: try reader.take(count), as: UTF8.self)
    }

    /// A newline-terminated argument of GLOBAL.
    private mutating func line() throws(CheckpointError) -> String {
        var bytes: [UInt8] = []
        while true {
            let byte = try reader.u8()
            if byte == 0x0A { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }

    /// A little-endian two's-complement integer of `count` bytes (LONG1, LONG4).
    private mutating func long(_ count: Int) throws(CheckpointError) -> Int {
        guard count >= 0 else { throw malformed("negative LONG4 length") }
        let bytes = try reader.take(count)
        guard count > 0 else { return 0 }
        let fill: UInt8 = bytes[min(count, 8) - 1] & 0x80 == 0 ? 0x00 : 0xFF
        guard bytes.dropFirst(8).allSatisfy({ $0 == fill }) else { throw malformed("integer wider than 64 bits") }
        var bits = UInt64(0)
        for position in 0..<8 { bits |= UInt64(position < count ? bytes[position] : fill) << (8 * position) }
        return Int(Int64(bitPattern: bits))
    }

    // MARK: Objects

    /// REDUCE and NEWOBJ: tensors and dicts for the globals that state dicts use, generic objects otherwise.
    private mutating func call(_ callable: Node, _ arguments: Node) throws(CheckpointError) -> Node {
        guard case .global(let name) = callable else { throw malformed("call of a value that is not a global") }
        guard case .tuple(let args) = arguments else { throw malformed("arguments of \(name) are not a tuple") }
        switch name {
        case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
            return try rebuildTensor(name: name, args)
        case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
            guard let data = args.first else { throw malformed("\(name) without a tensor") }
            return data
        case "collections.OrderedDict" where args.isEmpty, "collections.defaultdict" where args.count <= 1:
            return .dict(DictBox())
        default:
            return .object(ObjectBox(className: name, args: args))
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])`:
    /// the elements of `storage` at `storage_offset + sum(index[d] * stride[d])`, gathered row-major.
    private func rebuildTensor(name: String, _ args: [Node]) throws(CheckpointError) -> Node {
        guard args.count >= 4, case .storage(let storage) = args[0], case .leaf(.int(let offset)) = args[1],
              let shape = integers(args[2]), let strides = integers(args[3])
        else { throw malformed("\(name) expects (storage, storage_offset, size, stride, ...)") }
        let layout = ElementLayout(offset: offset, shape: shape, strides: strides)
        guard let required = layout.requiredElements, let count = layout.count else {
            throw malformed("invalid tensor view: offset \(offset), size \(shape), stride \(strides)")
        }
        guard let dtype = storage.dtype, dtype.convertsToFloat || dtype.convertsToInt64 else {
            return .object(ObjectBox(className: name, args: args))
        }
        guard required <= storage.elementCount else {
            throw malformed("tensor view (offset \(offset), size \(shape), stride \(strides)) exceeds storage "
                + "data/\(storage.key) of \(storage.elementCount) elements")
        }
        guard count <= Self.maximumTensorElements else { throw malformed("tensor of \(count) elements is too large") }
        if dtype.convertsToFloat, let values = ElementDecoding.floats(storage.bytes, dtype: dtype, layout: layout) {
            return .leaf(.tensor(Tensor(shape: shape, storage: values)))
        }
        let values = ElementDecoding.integers(storage.bytes, dtype: dtype, layout: layout) ?? []
        return .leaf(.integerTensor(shape: shape, values: values))
    }

    private func integers(_ node: Node) -> [Int]? {
        guard case .tuple(let items) = node else { return nil }
        var values: [Int] = []
        for item in items {
            guard case .leaf(.int(let value)) = item else { return nil }
            values.append(value)
        }
        return values
    }

    /// BINPERSID: `('storage', storage_type, key, location, numel)`, resolved once per key.
    private mutating func persistentLoad(_ pid: Node) throws(CheckpointError) -> Node {
        guard case .tuple(let items) = pid, items.count >= 5, case .leaf(.string("storage")) = items[0],
              case .global(let typeName) = items[1], case .leaf(.string(let key)) = items[2],
              case .leaf(.string(let location)) = items[3], case .leaf(.int(let elementCount)) = items[4],
              elementCount >= 0
        else { throw malformed("persistent id is not ('storage', storage_type, key, location, numel)") }
        if let storage = storages[key] { return .storage(storage) }
        let bytes = try loadStorage(key)
        let dtype = TorchStorage.dtypes[typeName]
        if let dtype {
            let (needed, overflow) = elementCount.multipliedReportingOverflow(by: dtype.byteCount)
            guard !overflow, needed <= bytes.count else {
                throw .notAPyTorchCheckpoint(path: path, reason: "storage data/\(key) holds \(bytes.count) bytes, "
                    + "fewer than \(elementCount) elements of \(typeName)")
            }
        }
        let storage = TorchStorage(typeName: typeName, dtype: dtype, key: key, location: location,
                                   elementCount: elementCount, bytes: bytes)
        storages[key] = storage
        return .storage(storage)
    }

    // MARK: Result

    private mutating func value(_ node: Node, depth: Int) throws(CheckpointError) -> PickleValue {
        guard depth < Self.maximumDepth else {
            throw malformed("values nested deeper than \(Self.maximumDepth) levels (or a reference cycle)")
        }
        valueBudget -= 1
        guard valueBudget >= 0 else { throw malformed("more than \(Self.maximumValues) values") }
        switch node {
        case .leaf(let value): return value
        case .tuple(let items): return .tuple(try values(items, depth: depth))
        case .list(let list): return .list(try values(list.items, depth: depth))
        case .dict(let dict):
            var entries: [(key: PickleValue, value: PickleValue)] = []
            entries.reserveCapacity(dict.entries.count)
            for (key, item) in dict.entries {
                entries.append((try value(key, depth: depth + 1), try value(item, depth: depth + 1)))
            }
            return .dict(entries)
        case .object(let object):
            let args = try values(object.args, depth: depth)
            var state: PickleValue? = nil
            if let node = object.state { state = try value(node, depth: depth + 1) }
            if object.className == "argparse.Namespace", args.isEmpty, let state, case .dict = state { return state }
            return .object(className: object.className, args: args, state: state)
        case .global(let name): return .object(className: name, args: [], state: nil)
        case .storage(let storage):
            return .object(className: storage.typeName,
                           args: [.string(storage.key), .string(storage.location), .int(storage.elementCount)], state: nil)
        }
    }

    private mutating func values(_ nodes: [Node], depth: Int) throws(CheckpointError) -> [PickleValue] {
        var values: [PickleValue] = []
        values.reserveCapacity(nodes.count)
        for node in nodes { values.append(try value(node, depth: depth + 1)) }
        return values
    }
}
