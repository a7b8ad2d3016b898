package argon2

// Memory is the block memory of one hash at a time, kept between hashes
// so that each does not allocate (and zero) its own. Where the operating
// system allows (memory_linux.go) it is mapped outside the Go heap, so it
// neither counts towards the collector's pacing nor needs collecting;
// elsewhere it holds no blocks.
type Memory struct {
	blocks []block // the mapping; empty where memory is not kept
}

// Holds reports whether a hash of memory KiB and threads lanes runs in m
// rather than in blocks allocated for the call.
func (m *Memory) Holds(memory uint32, threads uint8) bool {
	return m != nil && uint64(len(m.blocks)) >= uint64(roundMemory(memory, uint32(threads)))
}

// blocksFor returns memory blocks, from m when it holds them.
func (m *Memory) blocksFor(memory uint32) []block {
	if m != nil && uint64(len(m.blocks)) >= uint64(memory) {
		return m.blocks[:memory]
	}
	return make([]block, memory)
}

// roundMemory is the number of blocks argon2 uses for memory KiB over
// threads lanes (deriveKey's rounding).
func roundMemory(memory, threads uint32) uint32 {
	memory = memory / (syncPoints * threads) * (syncPoints * threads)
	if memory < 2*syncPoints*threads {
		memory = 2 * syncPoints * threads
	}
	return memory
}
