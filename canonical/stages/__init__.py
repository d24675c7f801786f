"""The stages of one sync cycle, each a transaction that the DAG runs as a task and `concord sync`
runs in-process: extract, load (map + validate + store), reconcile, sync back, audit."""
