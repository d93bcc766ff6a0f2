package embedded

import "testing"

func TestEndpointHost(t *testing.T) {
	tests := []struct {
		listen, want string
	}{
		{"127.0.0.1:9000", "127.0.0.1:9000"},
		{"0.0.0.0:9000", "127.0.0.1:9000"},
		{":9000", "127.0.0.1:9000"},
		{"[::]:9000", "127.0.0.1:9000"},
		{"localhost:9000", "localhost:9000"},
		{"[::1]:9000", "[::1]:9000"},
	}
	for _, tt := range tests {
		t.Run(tt.listen, func(t *testing.T) {
			if got := endpointHost(tt.listen); got != tt.want {
				t.Errorf("endpointHost(%q) = %q, want %q", tt.listen, got, tt.want)
			}
		})
	}
}
