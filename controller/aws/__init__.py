"""The only place that talks to AWS: clients, error mapping, typed live state."""
