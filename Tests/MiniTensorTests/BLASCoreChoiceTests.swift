import MiniTensor
import Testing

@Suite struct BLASCoreChoiceTests {
  @Test func avx512FlagsPreferSkylakeXAndAVX2FlagsHaswell() {
    let avx2: Set<Substring> = ["sse4_2", "avx", "avx2", "fma"]
    #expect(BLASCoreChoice.preferredCore(cpuFlags: avx2) == "Haswell")
    let avx512 = avx2.union(["avx512f", "avx512dq", "avx512bw", "avx512vl"])
    #expect(BLASCoreChoice.preferredCore(cpuFlags: avx512) == "SkylakeX")
    // AVX-512 F alone (no BW/VL) is not enough for OpenBLAS's SkylakeX kernels.
    #expect(BLASCoreChoice.preferredCore(cpuFlags: avx2.union(["avx512f"])) == "Haswell")
    #expect(BLASCoreChoice.preferredCore(cpuFlags: ["sse4_2", "avx"]) == nil)
  }

  @Test func anyChoiceBeatsGenericKernelsAndSkylakeXBeatsAVX2() {
    #expect(BLASCoreChoice.isStronger("Haswell", than: "Prescott"))
    #expect(BLASCoreChoice.isStronger("SkylakeX", than: "Zen"))
    #expect(BLASCoreChoice.isStronger("SkylakeX", than: "Haswell"))
    #expect(BLASCoreChoice.isStronger("Haswell", than: "Zen"))
    #expect(!BLASCoreChoice.isStronger("Haswell", than: "Haswell"))
    #expect(!BLASCoreChoice.isStronger("Haswell", than: "SkylakeX"))
    #expect(!BLASCoreChoice.isStronger("SkylakeX", than: "SkylakeX"))
  }
}
