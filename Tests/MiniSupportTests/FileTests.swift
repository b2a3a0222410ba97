import Foundation
import MiniSupport
import Testing

@Suite("Atomic writes and mapped files")
struct FileTests {
  @Test("writeFileAtomically creates and replaces a file, leaving no temporary file")
  func replaces() throws {
    let folder = try ScratchFolder()
    defer { folder.remove() }
    let path = folder.file("a.json")
    try writeFileAtomically(Array("first".utf8), to: path)
    #expect(folder.contents("a.json") == Array("first".utf8))
    try writeFileAtomically(to: path) { sink in
      try sink.write(Array("sec".utf8))
      try Array("ond".utf8).withUnsafeBytes { try sink.write($0) }
    }
    #expect(folder.contents("a.json") == Array("second".utf8))
    #expect(try folder.names() == ["a.json"])
  }

  @Test("A body that throws leaves the old file as it was and no temporary file")
  func failedBody() throws {
    struct Stop: Error {}
    let folder = try ScratchFolder()
    defer { folder.remove() }
    let path = folder.file("keep")
    try writeFileAtomically(Array("old".utf8), to: path)
    #expect(throws: Stop.self) {
      try writeFileAtomically(to: path) { sink in
        try sink.write(Array("new, half written".utf8))
        throw Stop()
      }
    }
    #expect(folder.contents("keep") == Array("old".utf8))
    #expect(try folder.names() == ["keep"])
  }

  @Test("A writer writes at an offset, stays hidden until committed, and cleans up when dropped")
  func writer() throws {
    let folder = try ScratchFolder()
    defer { folder.remove() }
    let writer = try AtomicFileWriter(path: folder.file("shard.bin"))
    #expect(writer.temporaryPath.hasPrefix(folder.path + "/.shard.bin.tmp-"))
    try writer.write(Array("0000 tokens".utf8))
    try Array("0042".utf8).withUnsafeBytes { try writer.write($0, at: 0) }
    try writer.finish()
    #expect(!FileManager.default.fileExists(atPath: folder.file("shard.bin")))
    try writer.commit()
    #expect(folder.contents("shard.bin") == Array("0042 tokens".utf8))
    #expect(try folder.names() == ["shard.bin"])

    do {
      let dropped = try AtomicFileWriter(path: folder.file("dropped"))
      try dropped.write(Array("x".utf8))
    }
    let discarded = try AtomicFileWriter(path: folder.file("discarded"))
    try discarded.finish()
    discarded.discard()
    discarded.discard()
    #expect(try folder.names() == ["shard.bin"])
  }

  @Test("A writer into a missing folder throws a SystemCallError naming the path")
  func missingFolder() throws {
    let folder = try ScratchFolder()
    defer { folder.remove() }
    let path = folder.file("absent/file")
    #expect {
      try writeFileAtomically(Array("x".utf8), to: path)
    } throws: { error in
      (error as? SystemCallError)?.path.hasPrefix(folder.file("absent/.file.tmp-")) ?? false
    }
  }

  @Test("MappedFile maps a file's bytes; empty files map to no bytes; folders are refused")
  func mapped() throws {
    let folder = try ScratchFolder()
    defer { folder.remove() }
    let bytes = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
    try writeFileAtomically(bytes, to: folder.file("data"))
    let file = try MappedFile(path: folder.file("data"))
    #expect(file.count == bytes.count)
    #expect(file.withUnsafeBytes { Array($0) } == bytes)
    try writeFileAtomically([], to: folder.file("empty"))
    #expect(try MappedFile(path: folder.file("empty")).withUnsafeBytes { $0.count } == 0)
    #expect(throws: SystemCallError.self) { try MappedFile(path: folder.path) }
    #expect(throws: SystemCallError.self) { try MappedFile(path: folder.file("absent")) }
  }
}
