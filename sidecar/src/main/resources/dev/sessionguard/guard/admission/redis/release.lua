-- A guard shutting down gives up its lease, so its records are purged at once.
redis.call('DEL', lease_key(GUARD))
purge_dead_guards()
return 1
