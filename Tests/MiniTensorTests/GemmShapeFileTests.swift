import Foundation
import MiniTensor
import TestSupport
import Testing

@Suite struct GemmShapeFileTests {
  @Test func aShapesFileListsItsShapesAndNamesABadLine() throws {
    let folder = try temporaryDirectory()
    let path = folder + "/shapes.txt"
    try Data("# the attention products\n2048 512 512 NN\n\n  64 32 16 TN  # a comment\n".utf8)
      .write(to: URL(fileURLWithPath: path))
    let shapes = try GemmShape.list(contentsOf: path)
    #expect(shapes.map { [$0.m, $0.n, $0.k] } == [[2048, 512, 512], [64, 32, 16]])
    #expect(shapes.map(\.layout) == ["NN", "TN"])

    try Data("2048 512 512 NN\n2048 512 XX\n".utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: GemmShapeFileError.self) { try GemmShape.list(contentsOf: path) }
    do {
      _ = try GemmShape.list(contentsOf: path)
    } catch {
      #expect("\(error)" == "\(path):2: expected 'M N K NN|NT|TN', got '2048 512 XX'")
    }
    #expect(throws: GemmShapeFileError.self) { try GemmShape.list(contentsOf: folder + "/none") }
  }
}
