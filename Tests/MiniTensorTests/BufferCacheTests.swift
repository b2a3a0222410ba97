import MiniTensor
import Testing

@Suite("Tensor buffer cache")
struct BufferCacheTests {
  let mib = 1 << 20

  @Test func aFreedBufferIsHandedToTheNextRequestOfTheSameSize() {
    let cache = BufferCache()
    let first = cache.allocate(bytes: mib)
    cache.release(first, bytes: mib)
    #expect(cache.statistics.cachedBytes == mib)
    let second = cache.allocate(bytes: mib)
    #expect(second == first)
    let stats = cache.statistics
    #expect(stats.hits == 1 && stats.misses == 1)
    #expect(stats.liveBytes == mib && stats.cachedBytes == 0 && stats.peakLiveBytes == mib)
    // Another size is not served from it.
    let other = cache.allocate(bytes: 2 * mib)
    #expect(other != second)
    #expect(cache.statistics.misses == 2)
    cache.release(second, bytes: mib)
    cache.release(other, bytes: 2 * mib)
    cache.trim()
    #expect(cache.statistics.cachedBytes == 0 && cache.statistics.liveBytes == 0)
  }

  @Test func cachedAndLiveBytesStayWithinThePeakPlusAnEighth() {
    let cache = BufferCache()
    // Peak 8 MiB, then 8 one-MiB buffers freed: all fit under the bound (9 MiB).
    let big = cache.allocate(bytes: 8 * mib)
    cache.release(big, bytes: 8 * mib)
    let small = (0..<8).map { _ in cache.allocate(bytes: mib) }
    for p in small { cache.release(p, bytes: mib) }
    #expect(cache.statistics.cachedBytes == 8 * mib)  // the big one was evicted for the smalls
    // A new 4 MiB request misses and evicts enough small ones to stay within 9 MiB.
    let mid = cache.allocate(bytes: 4 * mib)
    let stats = cache.statistics
    #expect(stats.liveBytes == 4 * mib)
    #expect(stats.cachedBytes + stats.liveBytes <= 9 * mib)
    #expect(stats.cachedBytes == 5 * mib)
    cache.release(mid, bytes: 4 * mib)
    cache.trim()
  }

  @Test func smallBuffersBypassTheCache() {
    let cache = BufferCache()
    let bytes = BufferCache.minimumBytes - 4
    let p = cache.allocate(bytes: bytes)
    #expect(Int(bitPattern: p) % 64 == 0)
    cache.release(p, bytes: bytes)
    let stats = cache.statistics
    #expect(stats.cachedBytes == 0 && stats.liveBytes == 0 && stats.peakLiveBytes == 0)
    #expect(stats.hits == 0 && stats.misses == 0)
  }

  @Test func tensorsKeepTheirValuesWhenBuffersAreReused() {
    // Large tensors made, dropped and made again hold exactly what they were given.
    for round in 0..<3 {
      let count = 300_000
      let values = (0..<count).map { Float($0 % 977) + Float(round) }
      let a = Tensor(values, shape: [count])
      let z = Tensor.zeros([count])
      #expect(a.scalars == values)
      #expect(z.scalars.allSatisfy { $0 == 0 })
    }
  }
}
