package dev.sessionguard.guard.identity;

import java.util.List;
import java.util.function.Function;

/**
 * What identity may look at in a request.
 *
 * @param remoteAddress the TCP peer
 * @param header the first value of a header, or null
 * @param forwardedFor every X-Forwarded-For value, in order
 */
public record RequestFacts(
    String remoteAddress, Function<String, String> header, List<String> forwardedFor) {}
