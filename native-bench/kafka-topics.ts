// The Kafka peer's topics (kafka-peer.ts), created by the bench (peers.ts) before either half starts.
export const PUBS_TOPIC = 'hunt-bench-pubs';
export const COMMITTED_TOPIC = 'hunt-bench-committed';
