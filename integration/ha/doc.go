// Package ha holds tokend's high-availability tests: three in-process
// replicas (lock + refresher + store, each with its own go-redis client)
// against real redis-server processes in Sentinel and Cluster topologies on
// loopback, the fake upstream, and readers that check every token they are
// handed; plus parse checks of the deployment files (docker-compose.yml,
// deploy/) and a real-Redis check of the ACL examples.
//
// The replicas run in-process rather than as tokend binaries: the
// failover invariants are properties of lock, refresher and store, and
// in-process instances let the tests record every ticket taken.
//
// It has no non-test code.
package ha
