package incident

import "fmt"

// SetSlowPath makes m look every village's incidents up each tick, as the
// detector did before villageState.open.
func SetSlowPath(m *Manager, on bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slowPath = on
}

// CheckOpenCounts reports a village whose count of its own open incidents
// is not what the open incidents say.
func CheckOpenCounts(m *Manager) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := map[string]int{}
	for k := range m.open {
		if code, ok := keyVillage(k); ok {
			want[code]++
		}
	}
	for code, st := range m.villages {
		if st.open != want[code] {
			return fmt.Errorf("village %s counts %d open incidents, has %d", code, st.open, want[code])
		}
		delete(want, code)
	}
	for code, n := range want {
		return fmt.Errorf("village %s has %d open incidents and no state", code, n)
	}
	return nil
}
