import Foundation

/// Where a user's shared daemon listens, and how a client finds it or starts it.
///
/// One daemon per user, as gpg-agent or the Emacs server: it listens on
/// `$XDG_RUNTIME_DIR/llmrec/llmrec.sock`, or on `/tmp/llmrec-UID/llmrec.sock` when that variable is
/// unset. The directory is private (0700, owned by the user); one that is not is refused rather than
/// used. A client that finds no daemon there starts one, detached, under an exclusive lock on
/// `DIR/start.lock`, so that clients starting at once make one daemon.
public enum DaemonEndpoint {
    /// The directory of the default socket (not created).
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") { return runtime + "/llmrec" }
        return "/tmp/llmrec-\(getuid())"
    }

    /// The default socket path (its directory not created).
    public static func defaultSocketPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        defaultDirectory(environment: environment) + "/llmrec.sock"
    }

    /// Creates `directory` (0700) when missing; refuses one that is not a directory owned by this
    /// user with no access for others.
    public static func preparePrivateDirectory(_ directory: String) throws(RPCClientError) {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .cannotConnect("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .cannotConnect("\(directory) is not a directory")
        }
        guard info.st_uid == getuid() else { throw .cannotConnect("\(directory) belongs to another user; refusing to use it") }
        guard info.st_mode & 0o077 == 0 else {
            throw .cannotConnect("\(directory) is open to other users (mode \(String(info.st_mode & 0o777, radix: 8))); refusing to use it")
        }
    }

    /// Connects to the daemon on `socketPath`; when none answers, starts one with `executable
    /// arguments` (a `serve` command on that socket), detached, its output appended to
    /// `DIR/llmrec.log`, and waits up to `timeout` seconds for it to answer. `announce` is called
    /// once when a daemon is being started (with the log's path), then `relay` with what the daemon
    /// writes to its log while it starts (loading and embedding progress), so that a person waiting
    /// sees why.
    public static func connectOrStart(
        socketPath: String, executable: String, arguments: [String], timeout: TimeInterval = 600,
        announce: (String) -> Void = { _ in }, relay: (String) -> Void = { _ in }
    ) throws(RPCClientError) -> RPCClient {
        if let client = try? RPCClient(socketPath: socketPath) { return client }
        let directory = (socketPath as NSString).deletingLastPathComponent
        try preparePrivateDirectory(directory)
        let lock = open(directory + "/start.lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard lock >= 0 else { throw .cannotConnect("cannot open \(directory)/start.lock: \(String(cString: strerror(errno)))") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
        // Another client may have started it while this one waited for the lock.
        if let client = try? RPCClient(socketPath: socketPath) { return client }
        let logPath = directory + "/llmrec.log"
        announce(logPath)
        var logged = fileSize(logPath)
        let process = try spawnDetached(executable: executable, arguments: arguments, logPath: logPath)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let size = fileSize(logPath)
            if size > logged, let text = read(logPath, from: logged, to: size) {
                relay(text)
                logged = size
            }
            if let client = try? RPCClient(socketPath: socketPath) { return client }
            var status: Int32 = 0
            if waitpid(process, &status, WNOHANG) == process {
                throw .cannotConnect("the daemon exited while starting; its log \(logPath) ends with:\n\(tail(of: logPath))")
            }
            usleep(50_000)
        }
        throw .cannotConnect("the daemon did not answer on \(socketPath) within \(Int(timeout)) s; see \(logPath)")
    }

    /// Starts `executable arguments` in a session of its own (so that closing the terminal that
    /// started it does not end it), stdin from /dev/null, stdout and stderr appended to `logPath`.
    private static func spawnDetached(executable: String, arguments: [String], logPath: String) throws(RPCClientError) -> pid_t {
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard log >= 0 else { throw .cannotConnect("cannot open \(logPath): \(String(cString: strerror(errno)))") }
        defer { close(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, log, 1)
        posix_spawn_file_actions_adddup2(&actions, log, 2)
        // Nothing else of this process's goes to the daemon: a pipe it held open (another client's
        // output, started by the same parent) would never reach end of file while the daemon lives.
        for descriptor in openDescriptors() where descriptor > 2 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc 2.26, <spawn.h>), which Swift's Glibc module does not export.
        let setSessionID: Int16 = 0x80
        posix_spawnattr_setflags(&attributes, setSessionID)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard status == 0 else { throw .cannotConnect("cannot start \(executable): \(String(cString: strerror(status)))") }
        return pid
    }

    private static func fileSize(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_size) : 0
    }

    /// Bytes `start..<end` of the file at `path`, as text.
    private static func read(_ path: String, from start: Int, to end: Int) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(start))) != nil, let data = try? handle.read(upToCount: end - start) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// This process's open file descriptors (from /proc/self/fd).
    private static func openDescriptors() -> [Int32] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return [] }
        return names.compactMap { Int32($0) }
    }

    /// The last lines of the file at `path` (for an error message).
    private static func tail(of path: String, lines: Int = 8) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines + 1).joined(separator: "\n")
    }
}
