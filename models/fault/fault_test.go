package fault

import (
	"errors"
	"fmt"
	"testing"
)

// TestKindAndCodeOfAChain: the kind and code come from the first *Error in
// the chain, however deep; an error with none is internal.
func TestKindAndCodeOfAChain(t *testing.T) {
	refused := Errorf(KindForbidden, "not_yours", "无权访问")
	for _, c := range []struct {
		name string
		err  error
		kind Kind
		code string
	}{
		{"bare", refused, KindForbidden, "not_yours"},
		{"wrapped by fmt", fmt.Errorf("load: %w", refused), KindForbidden, "not_yours"},
		{"with a cause", ErrBusy.Wrap(errors.New("lock wait")), KindBusy, CodeBusy},
		{"outer wins", fmt.Errorf("x: %w", ErrUnavailable.Wrap(refused)), KindUnavailable, CodeUnavailable},
		{"plain error", errors.New("boom"), KindInternal, CodeInternal},
		{"nil", nil, KindInternal, CodeInternal},
	} {
		if k, code := KindOf(c.err), CodeOf(c.err); k != c.kind || code != c.code {
			t.Errorf("%s: kind %q code %q, want %q %q", c.name, k, code, c.kind, c.code)
		}
	}
}

// TestWrapKeepsTheOriginal: Wrap returns a copy, so a shared error value
// never carries one request's cause into another's.
func TestWrapKeepsTheOriginal(t *testing.T) {
	cause := errors.New("dial tcp: connection refused")
	w := ErrUnavailable.Wrap(cause)
	if ErrUnavailable.Err != nil {
		t.Fatal("Wrap changed the shared value")
	}
	if !errors.Is(w, cause) || w.Message != ErrUnavailable.Message {
		t.Fatalf("wrapped %#v", w)
	}
	if got, want := w.Error(), "unavailable: 服务暂时不可用，请稍后再试: dial tcp: connection refused"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}
