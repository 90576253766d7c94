package cluster

import (
	"net"
	"net/url"
	"time"
)

// waitReleased waits until nothing answers at the API server's address any more. kwokctl's delete
// signals kube-apiserver and returns; a loaded API server can take many seconds to drain its
// watches and exit, and a cluster created meanwhile under the same name gets the same port, its
// own server fails to bind, and its clients meet the old server's certificate (make bench, N = 1
// then N = 10: "x509: certificate signed by unknown authority" twice in a row).
func waitReleased(host string, timeout time.Duration) bool {
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return true
	}
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			return true
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}
