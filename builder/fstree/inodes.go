package fstree

// InodeMap maps inodes to values. A tree is mostly on one device, and
// the inodes of the first device put are keyed by their number alone: Go
// looks a uint64 key up several times faster than a two-word one, which
// counts at hundreds of thousands of inodes per build. Inodes of other
// devices (a tree that spans mounts) go to a second map. The zero value
// is empty and ready; it is not safe for concurrent writes.
type InodeMap[V any] struct {
	dev    uint64
	devSet bool
	one    map[uint64]V // the inodes of dev, by number
	other  map[Inode]V
}

// NewInodeMap returns a map with room for n inodes of one device.
func NewInodeMap[V any](n int) *InodeMap[V] {
	return &InodeMap[V]{one: make(map[uint64]V, n)}
}

// Get returns k's value, and whether k is in the map.
func (m *InodeMap[V]) Get(k Inode) (V, bool) {
	if m.devSet && k.Dev == m.dev {
		v, ok := m.one[k.Ino]
		return v, ok
	}
	v, ok := m.other[k]
	return v, ok
}

// Put sets k's value.
func (m *InodeMap[V]) Put(k Inode, v V) {
	if !m.devSet {
		m.dev, m.devSet = k.Dev, true
	}
	if k.Dev == m.dev {
		if m.one == nil {
			m.one = map[uint64]V{}
		}
		m.one[k.Ino] = v
		return
	}
	if m.other == nil {
		m.other = map[Inode]V{}
	}
	m.other[k] = v
}

// Len returns the number of inodes in the map.
func (m *InodeMap[V]) Len() int { return len(m.one) + len(m.other) }
