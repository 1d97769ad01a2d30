package dev.sessionguard.policy;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonPropertyDescription;
import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.Size;
import io.fabric8.generator.annotation.ValidationRule;
import java.util.ArrayList;
import java.util.List;

/**
 * The desired behaviour of one guard: where it listens, what it protects, and the caps it holds.
 *
 * <p>Every field has a default, filled in when a policy is read (and by the API server through the
 * CRD's defaults), so a policy needs only what differs. The same type is read from a SessionPolicy
 * resource and from the guard's policy file.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@ValidationRule(
    value =
        "(has(self.guard) && has(self.guard.port) ? self.guard.port : 4484)"
            + " != (has(self.guard) && has(self.guard.adminPort) ? self.guard.adminPort : 9484)",
    message = "guard.port and guard.adminPort must differ")
@ValidationRule(
    value =
        "!has(self.upstream) || !has(self.upstream.port)"
            // a remote upstream may share a port number with the guard; one in the pod may not
            + " || (has(self.upstream.host) && !(self.upstream.host in ['localhost', 'localhost.',"
            + " '0.0.0.0', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::', '[::]']"
            + " || self.upstream.host.startsWith('127.')"
            + " || self.upstream.host.startsWith('::ffff:127.')"
            + " || self.upstream.host.startsWith('[::ffff:127.')))"
            + " || (self.upstream.port != (has(self.guard) && has(self.guard.port) ? self.guard.port : 4484)"
            + " && self.upstream.port != (has(self.guard) && has(self.guard.adminPort) ? self.guard.adminPort : 9484))",
    message = "upstream.port must differ from guard.port and guard.adminPort on loopback")
public class SessionPolicySpec {
  static final String DURATION = Durations.PATTERN;
  static final String BYTES = "^[0-9]+(Ki|Mi|Gi)?$";

  /** A Redis URL whose authority holds no credentials (no {@code @} before the path). */
  static final String REDIS_URL = "^rediss?://[^/?#@]*([/?#].*)?$";

  @JsonPropertyDescription(
      "The workload whose pods get the guard: an apps/v1 Deployment or StatefulSet, or a"
          + " toolhive.stacklok.dev VirtualMCPServer. Required in a cluster; ignored by a"
          + " standalone guard.")
  @Required
  public TargetRef targetRef;

  @JsonPropertyDescription("The MCP server the guard protects, as seen from inside the pod.")
  public Upstream upstream = new Upstream();

  @JsonPropertyDescription("Where the guard listens.")
  public Guard guard = new Guard();

  @JsonPropertyDescription("How clients reach the guard.")
  public Exposure exposure = new Exposure();

  @JsonPropertyDescription(
      "Enforce refuses what is over a cap; DryRun forwards everything and only counts and logs"
          + " what it would refuse or end (it ends no session).")
  @Default("Enforce")
  public Mode mode = Mode.Enforce;

  @JsonPropertyDescription("How the guard names a client, for per-client caps.")
  public Identity identity = new Identity();

  @JsonPropertyDescription("Session caps and reaping (MCP protocol versions up to 2025-11-25).")
  public Sessions sessions = new Sessions();

  @JsonPropertyDescription("In-flight request and stream caps (every protocol version).")
  public Requests requests = new Requests();

  @JsonPropertyDescription("Browser origins allowed to call the server.")
  public Origins origins = new Origins();

  @JsonPropertyDescription("Size limits on requests.")
  public Limits limits = new Limits();

  @JsonPropertyDescription("Timeouts. There is never a total timeout: SSE streams live long.")
  public Timeouts timeouts = new Timeouts();

  @JsonPropertyDescription("The Retry-After a refused client is told to wait.")
  @Pattern(DURATION)
  @Size(max = 32)
  @Default("30s")
  public String retryAfter = "30s";

  @JsonPropertyDescription("What the guard's admin port shows.")
  public Admin admin = new Admin();

  @JsonPropertyDescription(
      "Where the session registry lives: Memory (each pod holds its own limits) or Redis"
          + " (limits hold across replicas).")
  public Store store = new Store();

  /** Enforce or only observe. */
  public enum Mode {
    Enforce,
    DryRun
  }

  /** The workload the guard is injected into. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class TargetRef {
    @JsonPropertyDescription("apps/v1, or toolhive.stacklok.dev/v1beta1 (v1alpha1 accepted).")
    @Required
    public String apiVersion;

    @JsonPropertyDescription("Deployment, StatefulSet or VirtualMCPServer.")
    @Required
    public String kind;

    @JsonPropertyDescription("The workload's name, in the policy's namespace.")
    @Required
    public String name;

    public TargetRef() {}

    public TargetRef(String apiVersion, String kind, String name) {
      this.apiVersion = apiVersion;
      this.kind = kind;
      this.name = name;
    }
  }

  /** The protected MCP server. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Upstream {
    /**
     * A DNS name (letters, digits, {@code -} and {@code .}) or an IP address, an IPv6 one with or
     * without brackets: no scheme, port or path (those are {@code port} and {@code path}).
     */
    public static final String HOST =
        "^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\\.?$"
            + "|^\\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(%[A-Za-z0-9_.-]+)?\\]?$";

    @JsonPropertyDescription(
        "Host of the MCP server: a DNS name or an IP address, without scheme, port or path;"
            + " inside a pod it is the loopback address.")
    @Pattern(HOST)
    @Default("127.0.0.1")
    public String host = "127.0.0.1";

    @JsonPropertyDescription("Port of the MCP server's Streamable HTTP endpoint.")
    @Min(1)
    @Max(65535)
    @Default("4483")
    public Integer port = 4483;

    /**
     * A URL path as sent on the wire: RFC 3986's path characters, anything else percent-encoded
     * (the guard matches it against requests' paths and sends its own DELETEs to it).
     */
    public static final String PATH = "^/([A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*$";

    @JsonPropertyDescription(
        "Path of the MCP endpoint, as sent: characters outside RFC 3986's path percent-encoded.")
    @Pattern(PATH)
    @Default("/mcp")
    public String path = "/mcp";
  }

  /** The guard's own ports. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Guard {
    @JsonPropertyDescription("Port clients reach the guard on.")
    @Min(1)
    @Max(65535)
    @Default("4484")
    public Integer port = 4484;

    @JsonPropertyDescription(
        "Port of /metrics, /healthz, /readyz, /policy and /sessions; never exposed by the guard's"
            + " Service.")
    @Min(1)
    @Max(65535)
    @Default("9484")
    public Integer adminPort = 9484;
  }

  /** How the guard is reached. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Exposure {
    @JsonPropertyDescription("Create a Service <policy>-guard that targets the guard's port.")
    @Default("true")
    public Boolean service = true;

    @JsonPropertyDescription(
        "Once the policy is Ready, add a NetworkPolicy that admits traffic to the pods only on the"
            + " guard's port (and the admin port from the operator and monitoring namespaces).")
    @Default("false")
    public Boolean lockdown = false;
  }

  /** Where a client's name comes from. */
  public enum IdentitySource {
    Jwt,
    Header,
    Address
  }

  /** What a client without a name gets. */
  public enum Anonymous {
    PerAddress,
    Shared,
    Reject,
    Exempt
  }

  /** Client identity. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Identity {
    @JsonPropertyDescription(
        "Jwt: a verified bearer token's claim; Header: a header set by an authenticating proxy;"
            + " Address: the client's IP address.")
    @Default("Address")
    public IdentitySource source = IdentitySource.Address;

    @JsonPropertyDescription("How bearer tokens are verified when source is Jwt.")
    public Jwt jwt;

    @JsonPropertyDescription("The header that names the client when source is Header.")
    public Header header;

    @JsonPropertyDescription(
        "CIDRs of proxies whose X-Forwarded-For is believed; the client address is the last"
            + " untrusted hop. With source Header, the header is believed only from these"
            + " (when any are listed).")
    public List<String> trustedProxies = new ArrayList<>();

    @JsonPropertyDescription(
        "Clients named by address (source Address, anonymous PerAddress) on IPv6 are named by"
            + " this prefix of it (64: one network, as a whole /64 usually belongs to one site);"
            + " unset, the whole address (128).")
    @Min(32)
    @Max(128)
    public Integer ipv6PrefixLength;

    @JsonPropertyDescription(
        "Clients without a name: PerAddress (named by address), Shared (one bucket for all),"
            + " Reject (401), Exempt (no per-client caps).")
    @Default("PerAddress")
    public Anonymous anonymous = Anonymous.PerAddress;
  }

  /** JWT verification. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Jwt {
    @JsonPropertyDescription("The required iss claim.")
    public String issuer;

    @JsonPropertyDescription("Accepted aud values; the token must carry at least one.")
    public List<String> audiences = new ArrayList<>();

    @JsonPropertyDescription("URL of the JWKS; exactly one of jwksUri and jwksFile.")
    public String jwksUri;

    @JsonPropertyDescription("Path of a JWKS file; exactly one of jwksUri and jwksFile.")
    public String jwksFile;

    @JsonPropertyDescription("Accepted signature algorithms (never none, never HMAC).")
    public List<String> algorithms = new ArrayList<>(List.of("RS256", "ES256"));

    @JsonPropertyDescription("The claim that names the client.")
    @Default("sub")
    public String claim = "sub";

    @JsonPropertyDescription(
        "RFC 9728 protected resource metadata URL sent in WWW-Authenticate on a 401.")
    public String resourceMetadata;
  }

  /** A trusted identity header. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Header {
    @JsonPropertyDescription("Header name, for example X-Forwarded-User.")
    @Default("X-Forwarded-User")
    public String name = "X-Forwarded-User";
  }

  /** Which requests reset a session's idle clock. */
  public enum Activity {
    AnyRequest,
    ToolCalls
  }

  /** What happens when a client at its cap opens another session. */
  public enum OnClientCap {
    Refuse,
    EvictIdlest
  }

  /** Session caps and reaping. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  @ValidationRule(
      value = "!has(self.max) || !has(self.perClient) || self.perClient <= self.max",
      message = "sessions.perClient must not exceed sessions.max")
  @ValidationRule(
      value =
          "!has(self.idleTimeout) || !has(self.maxLifetime)"
              + " || duration(self.idleTimeout) <= duration(self.maxLifetime)",
      message = "sessions.idleTimeout must not exceed sessions.maxLifetime")
  public static class Sessions {
    @JsonPropertyDescription("Sessions the server may hold in all.")
    @Min(1)
    @Max(1000000)
    @Default("100")
    public Integer max = 100;

    @JsonPropertyDescription("Sessions one client may hold.")
    @Min(1)
    @Max(1000000)
    @Default("10")
    public Integer perClient = 10;

    @JsonPropertyDescription("A session with no counted activity for this long is ended.")
    @Pattern(DURATION)
    @Size(max = 32)
    @Default("5m")
    public String idleTimeout = "5m";

    @JsonPropertyDescription("A session older than this is ended, active or not.")
    @Pattern(DURATION)
    @Size(max = 32)
    @Default("24h")
    public String maxLifetime = "24h";

    @JsonPropertyDescription(
        "Which requests reset the idle clock: AnyRequest, or only ToolCalls (tools/call).")
    @Default("AnyRequest")
    public Activity activity = Activity.AnyRequest;

    @JsonPropertyDescription(
        "A client at its cap opening another session: Refuse (429), or EvictIdlest (its own"
            + " idlest session is ended).")
    @Default("Refuse")
    public OnClientCap onClientCap = OnClientCap.Refuse;
  }

  /** In-flight caps. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  @ValidationRule(
      value =
          "!has(self.maxInFlight) || !has(self.perClientInFlight)"
              + " || self.perClientInFlight <= self.maxInFlight",
      message = "requests.perClientInFlight must not exceed requests.maxInFlight")
  @ValidationRule(
      value =
          "!has(self.maxStreams) || !has(self.perClientStreams)"
              + " || self.perClientStreams <= self.maxStreams",
      message = "requests.perClientStreams must not exceed requests.maxStreams")
  public static class Requests {
    @JsonPropertyDescription("Requests in progress at once, in all.")
    @Min(1)
    @Max(1000000)
    @Default("1000")
    public Integer maxInFlight = 1000;

    @JsonPropertyDescription("Requests in progress at once, per client.")
    @Min(1)
    @Max(1000000)
    @Default("50")
    public Integer perClientInFlight = 50;

    @JsonPropertyDescription(
        "Open streams, in all: a session's standalone GET stream, or a subscriptions/listen"
            + " (protocol 2026-07-28).")
    @Min(1)
    @Max(1000000)
    @Default("1000")
    public Integer maxStreams = 1000;

    @JsonPropertyDescription("Open streams (standalone GET, subscriptions/listen) per client.")
    @Min(1)
    @Max(1000000)
    @Default("5")
    public Integer perClientStreams = 5;
  }

  /** Browser origin allow-list. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Origins {
    @JsonPropertyDescription(
        "Origins allowed (scheme://host[:port]); a request with another Origin gets 403. Empty:"
            + " no Origin accepted. Requests without Origin are not browser requests and pass.")
    public List<String> allowed = new ArrayList<>();
  }

  /** Request size limits. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Limits {
    @JsonPropertyDescription("Largest request body (bytes, or with Ki/Mi/Gi); larger gets 413.")
    @Pattern(BYTES)
    @Default("4Mi")
    public String maxBodyBytes = "4Mi";

    @JsonPropertyDescription("Largest request header block; larger gets 431.")
    @Pattern(BYTES)
    @Default("16Ki")
    public String maxHeaderBytes = "16Ki";
  }

  /** Timeouts. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Timeouts {
    @JsonPropertyDescription("Connecting to the upstream; past it the client gets 502.")
    @Pattern(DURATION)
    @Size(max = 32)
    @Default("2s")
    public String connect = "2s";

    @JsonPropertyDescription("Waiting for the upstream's response headers; past it 504.")
    @Pattern(DURATION)
    @Size(max = 32)
    @Default("60s")
    public String firstByte = "60s";

    @JsonPropertyDescription(
        "After SIGTERM, how long the guard keeps serving normally while endpoints drop the pod.")
    @Pattern(DURATION)
    @Size(max = 32)
    @Default("5s")
    public String drainDelay = "5s";

    @JsonPropertyDescription(
        "After drainDelay, how long requests in progress may take to finish (streams are not"
            + " waited for).")
    @Pattern(DURATION)
    @Size(max = 32)
    @Default("20s")
    public String drain = "20s";
  }

  /** Admin view. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Admin {
    @JsonPropertyDescription(
        "Show client names in /sessions; otherwise they appear as short hashes.")
    @Default("false")
    public Boolean showClientNames = false;
  }

  /** The registry's backing store. */
  public enum StoreType {
    Memory,
    Redis
  }

  /** What the guard does while Redis cannot be reached. */
  public enum FailureMode {
    Open,
    Closed
  }

  /** Session registry store. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class Store {
    @JsonPropertyDescription("Memory (per pod) or Redis (shared by every guard of the policy).")
    @Default("Memory")
    public StoreType type = StoreType.Memory;

    @JsonPropertyDescription("Redis settings when type is Redis.")
    public Redis redis;
  }

  /** Redis connection. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  @ValidationRule(
      value = "!has(self.leaseTtl) || duration(self.leaseTtl) >= duration('1s')",
      message = "store.redis.leaseTtl must be at least 1s")
  public static class Redis {
    @JsonPropertyDescription(
        "redis:// or rediss:// URL, without credentials (the password comes from"
            + " passwordSecretRef).")
    @Pattern(REDIS_URL)
    public String url;

    @JsonPropertyDescription("The Secret key that holds the Redis password.")
    public SecretKeyRef passwordSecretRef;

    @JsonPropertyDescription(
        "The Redis ACL user to log in as (Redis 6 and later, managed Redis with users), with the"
            + " password from passwordSecretRef; unset: the default user.")
    @Pattern("^[!-~]+$")
    @Size(max = 256)
    public String username;

    @JsonPropertyDescription(
        "How long a guard's sessions outlive it when it stops renewing (a crashed guard).")
    @Pattern(DURATION)
    @Size(max = 32)
    @Default("30s")
    public String leaseTtl = "30s";

    @JsonPropertyDescription(
        "While Redis is unreachable: Open admits and counts locally; Closed refuses new sessions"
            + " with 503.")
    @Default("Open")
    public FailureMode failureMode = FailureMode.Open;
  }

  /** A key of a Secret in the policy's namespace. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public static class SecretKeyRef {
    @JsonPropertyDescription("Secret name.")
    @Required
    public String name;

    @JsonPropertyDescription("Key within the Secret.")
    @Required
    public String key;
  }
}
