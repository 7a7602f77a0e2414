// peer_micro.cpp — micro-benchmarks of the peers' enqueue calls (filled in below).
