import Foundation
import MiniTokenize
import TestSupport
import Testing

/// Parquet files made by hand, without pyarrow: files that are not Parquet, footers that lie
/// about their length, and random footers give a `ParquetError` naming the file, never a crash.
@Suite struct ParquetHostileTests {
  static func write(_ bytes: [UInt8], in directory: String) throws -> String {
    let path = directory + "/hostile.parquet"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return path
  }

  static func footerLength(_ length: UInt32) -> [UInt8] {
    withUnsafeBytes(of: length.littleEndian) { Array($0) }
  }

  /// FileMetaData: schema [root with 1 child, BYTE_ARRAY "t"], row_groups [2 × (columns [one
  /// empty chunk], num_rows 2^62)], in the compact protocol.
  static let overflowingFooter: [UInt8] = {
    let bigRows: [UInt8] = [0x26, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]
    let group: [UInt8] = [0x19, 0x1C, 0x00] + bigRows + [0x00]
    return [0x29, 0x2C]  // field 2: a list of 2 structs
      + [0x48, 0x01, Character("r").asciiValue!, 0x15, 0x02, 0x00]  // name "r", num_children 1
      + [0x15, 0x0C, 0x38, 0x01, Character("t").asciiValue!, 0x00]  // type 6, name "t"
      + [0x29, 0x2C] + group + group + [0x00]  // field 4: a list of 2 row groups
  }()

  @Test func filesThatAreNotParquetAreNamed() throws {
    let directory = try temporaryDirectory()
    let magic = Array("PAR1".utf8)
    let cases: [([UInt8], String)] = [
      ([], "too short"),
      (magic + magic, "too short"),
      (Array("not a parquet file at all".utf8), "not a Parquet file"),
      (magic + [1, 2, 3, 4] + Self.footerLength(1 << 31) + magic, "footer length"),
      (magic + [0x15, 0x00] + Self.footerLength(2) + Array("PARE".utf8), "encrypted"),
      // A footer whose schema list claims more elements than there are bytes.
      (magic + [0x19, 0xFC, 0xFF, 0xFF, 0x0F] + Self.footerLength(5) + magic, "malformed footer"),
      // One text column and two row groups of 2^62 rows each.
      (
        magic + Self.overflowingFooter + Self.footerLength(UInt32(Self.overflowingFooter.count))
          + magic, "overflow"
      ),
      // An empty FileMetaData: no schema.
      (magic + [0x00] + Self.footerLength(1) + magic, "schema is empty"),
    ]
    for (bytes, expected) in cases {
      let path = try Self.write(bytes, in: directory)
      #expect {
        try ParquetFile(path: path)
      } throws: { error in
        "\(error)".contains("hostile.parquet") && "\(error)".contains(expected)
      }
    }
  }

  @Test func randomFootersThrowOrParseButNeverCrash() throws {
    let directory = try temporaryDirectory()
    var state: UInt64 = 3
    func next() -> UInt64 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return state >> 33
    }
    var failures = 0
    for round in 0..<2000 {
      let length = 1 + Int(next() % 96)
      // Field headers of every type, lists and structs, mixed with arbitrary bytes.
      let footer = (0..<length).map { _ in
        round % 2 == 0
          ? UInt8(truncatingIfNeeded: next())
          : [0x15, 0x19, 0x1C, 0x29, 0x00, 0xFF][
            Int(next() % 6)]
      }
      let path = try Self.write(
        Array("PAR1".utf8) + footer + Self.footerLength(UInt32(length)) + Array("PAR1".utf8),
        in: directory)
      do {
        let file = try ParquetFile(path: path)
        for group in file.rowGroupRowCounts.indices {
          for column in file.columns { _ = try? file.column(column.name, rowGroup: group) }
        }
      } catch {
        failures += 1
        #expect(error is ParquetError)
        #expect("\(error)".contains("hostile.parquet"))
      }
    }
    #expect(failures > 1000, "most random footers are refused")
  }
}
