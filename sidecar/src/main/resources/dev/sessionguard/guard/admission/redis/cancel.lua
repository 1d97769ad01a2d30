-- Releases a reservation; a second call does nothing. ARGV[4] reservation id.
return remove_reservation(ARGV[4]) and 1 or 0
