/// The parts of Parquet's `FileMetaData` (the footer) that a reader of flat columns needs, read
/// from the Thrift compact protocol by hand. Field ids are those of `parquet.thrift`.
struct ParquetMetadata {
  /// `SchemaElement`: a leaf column, or a group when `childCount` is set.
  struct SchemaElement {
    var name = ""
    /// `Type`: 0 BOOLEAN, 1 INT32, 2 INT64, 3 INT96, 4 FLOAT, 5 DOUBLE, 6 BYTE_ARRAY,
    /// 7 FIXED_LEN_BYTE_ARRAY.
    var type: Int32?
    /// `FieldRepetitionType`: 0 REQUIRED, 1 OPTIONAL, 2 REPEATED.
    var repetition: Int32 = 0
    var childCount: Int32 = 0
    /// `ConvertedType` (0 UTF8, 1 MAP, 2 MAP_KEY_VALUE, 3 LIST, 4 ENUM, …, 19 JSON, …).
    var convertedType: Int32?
    /// The `LogicalType` union member's field id (1 STRING, 2 MAP, 3 LIST, 4 ENUM, …).
    var logicalType: Int?
  }

  /// `ColumnMetaData` of one column chunk.
  struct ColumnChunk {
    var type: Int32 = -1
    var path: [String] = []
    /// `CompressionCodec`: 0 UNCOMPRESSED, 1 SNAPPY, 2 GZIP, 3 LZO, 4 BROTLI, 5 LZ4, 6 ZSTD,
    /// 7 LZ4_RAW.
    var codec: Int32 = 0
    var valueCount: Int64 = 0
    var compressedSize: Int64 = 0
    var dataPageOffset: Int64 = -1
    var dictionaryPageOffset: Int64?
    /// Set when the chunk lives in another file (`file_path`).
    var externalFile: String?
    var encrypted = false
  }

  struct RowGroup {
    var columns: [ColumnChunk] = []
    var rowCount: Int64 = 0
  }

  var schema: [SchemaElement] = []
  var rowCount: Int64 = 0
  var rowGroups: [RowGroup] = []
  var encrypted = false

  init(_ reader: inout ThriftCompactReader) throws(ThriftCompactReader.Failure) {
    try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
      switch (id, type) {
      case (2, .list):
        let (element, count) = try reader.listHeader()
        guard element == .structure else { throw reader.failure("schema is not a list of structs") }
        for _ in 0..<count { schema.append(try Self.schemaElement(&reader)) }
      case (3, .i64): rowCount = try reader.i64()
      case (4, .list):
        let (element, count) = try reader.listHeader()
        guard element == .structure else {
          throw reader.failure("row_groups is not a list of structs")
        }
        for _ in 0..<count { rowGroups.append(try Self.rowGroup(&reader)) }
      case (8, .structure):
        encrypted = true
        return false
      default: return false
      }
      return true
    }
  }

  private static func schemaElement(_ reader: inout ThriftCompactReader) throws(ThriftCompactReader
    .Failure) -> SchemaElement
  {
    var element = SchemaElement()
    try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
      switch (id, type) {
      case (1, .i32): element.type = try reader.i32()
      case (3, .i32): element.repetition = try reader.i32()
      case (4, .binary): element.name = try reader.string()
      case (5, .i32): element.childCount = try reader.i32()
      case (6, .i32): element.convertedType = try reader.i32()
      case (10, .structure):
        // A union: the one field set says which logical type.
        try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
          element.logicalType = id
          try reader.skip(type)
          return true
        }
      default: return false
      }
      return true
    }
    return element
  }

  private static func rowGroup(_ reader: inout ThriftCompactReader) throws(ThriftCompactReader
    .Failure) -> RowGroup
  {
    var group = RowGroup()
    try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
      switch (id, type) {
      case (1, .list):
        let (element, count) = try reader.listHeader()
        guard element == .structure else {
          throw reader.failure("columns is not a list of structs")
        }
        for _ in 0..<count { group.columns.append(try Self.columnChunk(&reader)) }
      case (3, .i64): group.rowCount = try reader.i64()
      default: return false
      }
      return true
    }
    return group
  }

  private static func columnChunk(_ reader: inout ThriftCompactReader) throws(ThriftCompactReader
    .Failure) -> ColumnChunk
  {
    var chunk = ColumnChunk()
    try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
      switch (id, type) {
      case (1, .binary): chunk.externalFile = try reader.string()
      case (3, .structure):
        try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
          switch (id, type) {
          case (1, .i32): chunk.type = try reader.i32()
          case (3, .list): chunk.path = try reader.stringList()
          case (4, .i32): chunk.codec = try reader.i32()
          case (5, .i64): chunk.valueCount = try reader.i64()
          case (7, .i64): chunk.compressedSize = try reader.i64()
          case (9, .i64): chunk.dataPageOffset = try reader.i64()
          case (11, .i64): chunk.dictionaryPageOffset = try reader.i64()
          default: return false
          }
          return true
        }
      case (8, .structure), (9, .binary):
        chunk.encrypted = true
        return false
      default: return false
      }
      return true
    }
    return chunk
  }
}

/// `PageHeader` and the headers of data (v1, v2) and dictionary pages.
struct ParquetPageHeader {
  /// `PageType`: 0 DATA_PAGE, 1 INDEX_PAGE, 2 DICTIONARY_PAGE, 3 DATA_PAGE_V2.
  var type: Int32 = -1
  var uncompressedSize: Int32 = -1
  var compressedSize: Int32 = -1
  var valueCount: Int32 = 0
  /// `Encoding`: 0 PLAIN, 2 PLAIN_DICTIONARY, 3 RLE, 4 BIT_PACKED, 5 DELTA_BINARY_PACKED,
  /// 6 DELTA_LENGTH_BYTE_ARRAY, 7 DELTA_BYTE_ARRAY, 8 RLE_DICTIONARY, 9 BYTE_STREAM_SPLIT.
  var encoding: Int32 = 0
  var definitionLevelEncoding: Int32 = 3
  /// v2: the level sections' lengths (stored uncompressed before the values).
  var definitionLevelsLength: Int32 = 0
  var repetitionLevelsLength: Int32 = 0
  var valuesCompressed = true

  init(_ reader: inout ThriftCompactReader) throws(ThriftCompactReader.Failure) {
    try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
      switch (id, type) {
      case (1, .i32): self.type = try reader.i32()
      case (2, .i32): uncompressedSize = try reader.i32()
      case (3, .i32): compressedSize = try reader.i32()
      case (5, .structure):  // DataPageHeader
        try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
          switch (id, type) {
          case (1, .i32): valueCount = try reader.i32()
          case (2, .i32): encoding = try reader.i32()
          case (3, .i32): definitionLevelEncoding = try reader.i32()
          default: return false
          }
          return true
        }
      case (7, .structure):  // DictionaryPageHeader
        try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
          switch (id, type) {
          case (1, .i32): valueCount = try reader.i32()
          case (2, .i32): encoding = try reader.i32()
          default: return false
          }
          return true
        }
      case (8, .structure):  // DataPageHeaderV2
        try reader.readStruct { (reader, id, type) throws(ThriftCompactReader.Failure) in
          switch (id, type) {
          case (1, .i32): valueCount = try reader.i32()
          case (4, .i32): encoding = try reader.i32()
          case (5, .i32): definitionLevelsLength = try reader.i32()
          case (6, .i32): repetitionLevelsLength = try reader.i32()
          case (7, .boolTrue): valuesCompressed = true
          case (7, .boolFalse): valuesCompressed = false
          default: return false
          }
          return true
        }
      default: return false
      }
      return true
    }
  }
}
