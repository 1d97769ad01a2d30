package dev.sessionguard.guard.identity;

/**
 * A named client, as per-client caps count it.
 *
 * @param name the bucket its sessions and requests are counted in (never a token)
 * @param verified named by a verified claim or a trusted header: its sessions are bound to it
 * @param exempt anonymous with {@code Exempt}: no per-client caps
 */
public record Client(String name, boolean verified, boolean exempt) {}
