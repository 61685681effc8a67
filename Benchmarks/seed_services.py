"""Creates an agent, a context graph and N active services so the service listing has real rows."""
import json
import sys
import urllib.request

base, org, token, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def call(method, path, body):
    request = urllib.request.Request(f"{base}/v1/{org}{path}", data=json.dumps(body).encode(), method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None


agent = call("POST", "/organization/agent", {"agent_name": "bench"})["id"]
call("POST", f"/organization/agent/{agent}/", {
    "initials": "BN", "background": "Bench agent.", "behaviors": [], "communication_patterns": [],
    "identity": {"name": "Bench", "role": "r", "developed_by": "d", "default_spoken_language": "eng",
                 "relationship_to_developer": {"ownership": "o", "type": "t", "conversation_visibility": "c", "thought_visibility": "t"}}})
graph = call("POST", "/organization/service_hierarchical_state_machine", {"state_machine_name": "bench"})["id"]
action = {"type": "action", "objective": "o", "actions": ["a"], "intra_state_navigation_guidelines": [], "action_guidelines": [],
          "boundary_constraints": [], "action_tool_call_specs": [], "exit_condition_tool_call_specs": [], "skip_active_memory_retrieval": False}
call("POST", f"/organization/service_hierarchical_state_machine/{graph}/", {
    "description": "bench", "new_user_initial_state": "start", "returning_user_initial_state": "start", "terminal_state": "end",
    "references": {}, "global_intra_state_navigation_guidelines": [], "global_action_guidelines": [], "global_boundary_constraints": [],
    "states": [dict(action, name="start", exit_conditions=[{"description": "done", "next_state": "end"}]), dict(action, name="end", exit_conditions=[])]})
for i in range(count):
    call("POST", "/service/", {"name": f"service {i}", "description": "bench", "is_active": True, "agent_id": agent,
                               "service_hierarchical_state_machine_id": graph, "keyterms": [], "tags": {"team": "bench"}})
