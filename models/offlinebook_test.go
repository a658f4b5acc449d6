package models

import "testing"

// TestOfflineSnapshotMergesItsOverlay: changes collect in the overlay up to
// offlineOverlayMax and are then merged into a new base; every person's
// latest state reads the same either way, and the snapshot applied to
// stays as it was.
func TestOfflineSnapshotMergesItsOverlay(t *testing.T) {
	base := map[uint32]offlineState{1: {serial: 1}, 2: {serial: 1}}
	snap := &offlineSnapshot{base: base, overlay: map[uint32]offlineState{}, seq: 10}
	next := snap.with([]OfflineSerial{{PersonNo: 2, Serial: 1, Lost: true, Seq: 11}, {PersonNo: 3, Serial: 1, Seq: 12}})
	if next.seq != 12 || len(next.overlay) != 2 || len(next.base) != 2 || !next.overlay[2].lost {
		t.Fatalf("after two changes: seq %d, overlay %v, base %d", next.seq, next.overlay, len(next.base))
	}
	if len(snap.overlay) != 0 || snap.base[2].lost {
		t.Error("applying changed the snapshot applied to")
	}
	rows := make([]OfflineSerial, offlineOverlayMax)
	for i := range rows {
		rows[i] = OfflineSerial{PersonNo: uint32(100 + i), Serial: 2, Seq: int64(13 + i)}
	}
	rows[0] = OfflineSerial{PersonNo: 1, Serial: 2, Seq: 13}
	merged := next.with(rows)
	if len(merged.overlay) != 0 || len(merged.base) != 3+offlineOverlayMax-1 {
		t.Fatalf("after the overlay's bound: overlay %d, base %d", len(merged.overlay), len(merged.base))
	}
	for no, want := range map[uint32]offlineState{1: {serial: 2}, 2: {serial: 1, lost: true}, 3: {serial: 1}, 100 + offlineOverlayMax - 1: {serial: 2}} {
		if got := merged.base[no]; got != want {
			t.Errorf("person %d: %+v, want %+v", no, got, want)
		}
	}
	if merged.seq != int64(12+offlineOverlayMax) {
		t.Errorf("merged seq %d", merged.seq)
	}
}
