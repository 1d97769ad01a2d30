package dev.sessionguard.guard.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class McpPathTest {
  @Test
  void every_spelling_of_the_mcp_path_names_it() {
    for (String path :
        new String[] {
          "/mcp",
          "/mcp/",
          "/MCP",
          "/%6Dcp",
          "/%6dCP",
          "//mcp",
          "/./mcp",
          "/a/../mcp",
          "/mcp;x=1",
          "/mcp//",
          "/../mcp"
        }) {
      assertThat(McpPath.names(path, "/mcp")).as(path).isTrue();
    }
    assertThat(McpPath.names("/v2/%4D%43%50/", "/v2/mcp")).isTrue();
    assertThat(McpPath.names("/caf%C3%A9/", "/café")).isTrue(); // UTF-8, as browsers encode
  }

  @Test
  void other_paths_do_not() {
    for (String path :
        new String[] {
          "/", "/mcpx", "/mc", "/mcp/x", "/.well-known/oauth-protected-resource", "/%6D", "/mcp%2Fx"
        }) {
      assertThat(McpPath.names(path, "/mcp")).as(path).isFalse();
    }
  }
}
