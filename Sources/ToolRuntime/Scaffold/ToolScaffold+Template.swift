extension ToolScaffold {
    static let pyproject = """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "my_tool"
        version = "0.1.0"
        description = "Greets someone by name."
        requires-python = ">=3.11"
        # Packages the tool imports, installed from PyPI when the tool is published.
        dependencies = []

        [tool.setuptools.packages.find]
        where = ["src"]

        [tool.compadre]
        # The function Compadre calls for each tool call, as module:function.
        entry = "my_tool.main:run"
        # JSON Schema of the input parameters; the model is shown it and Compadre checks calls against it.
        input-schema = "input_schema.json"
        # Environment variables the tool reads from os.environ, set on the tool in Compadre before publishing,
        # for example ["WEATHER_API_BASE"]. Names use A-Z and _ only.
        envvars = []
        # The same for secrets, for example ["WEATHER_API_KEY"]. Their values are never shown again.
        secret-envvars = []

        """

    static let inputSchema = """
        {
          "type": "object",
          "properties": {
            "name": {
              "type": "string",
              "description": "The name of the person to greet."
            }
          },
          "required": ["name"],
          "additionalProperties": false
        }

        """

    static let initPy = """
        \"\"\"A Compadre tool that greets someone by name.\"\"\"

        """

    static let mainPy = """
        \"\"\"The tool's entry point, named by [tool.compadre] entry in pyproject.toml.\"\"\"


        def run(input_parameters: dict, context) -> str:
            \"\"\"Handles one tool call and returns its result.

            input_parameters: the call's arguments, valid against input_schema.json.
            context.invocation_mode: "regular", or "conversation-simulation" when the conversation is a
                simulation: then the tool must not cause real side effects (send mail, book, pay).
            context.nonsensitive_user_variables, context.sensitive_user_variables: the user's variables (dicts).
            Environment variables listed in pyproject.toml are in os.environ.

            Return a string; anything else is sent as JSON. Raise an exception to report a failure: its
            type, message and stack trace are recorded. print() output goes to the logs, not the result.
            \"\"\"
            name = input_parameters["name"].strip()
            if not name:
                raise ValueError("name must not be empty")
            return f"Hello, {name}!"

        """

    static let readme = """
        # my_tool

        A tool for Compadre agents: a Python project that Compadre builds when you publish a version and
        runs, in a sandbox, each time an agent calls it.

        ## The contract

        - `pyproject.toml` is a standard project (`[project]`, setuptools, code under `src/`) with a
          `[tool.compadre]` table:
          - `entry`: the function to call, as `module:function`;
          - `input-schema`: the JSON Schema of the input parameters (an object schema);
          - `envvars` and `secret-envvars`: the environment variables the tool reads.
        - The entry is called as `run(input_parameters, context)` and returns a string (anything else is
          sent as JSON). `context.invocation_mode` is `"regular"` or `"conversation-simulation"` (no real
          side effects then); `context.nonsensitive_user_variables` and `context.sensitive_user_variables`
          hold the user's variables. An exception is reported with its type, message and stack trace.
        - Each call is a fresh process with a time limit (30 s by default) and memory and CPU limits. It
          can reach the network, not Compadre's files; its working directory is an empty folder removed
          afterwards. Standard output is not the result: `print` goes to the logs.
        - Dependencies listed in `[project] dependencies` are installed from PyPI at publish time.

        ## Try it

        ```
        python3 -m venv .venv && .venv/bin/pip install -e .
        .venv/bin/python -c 'from my_tool.main import run; print(run({"name": "Ada"}, None))'
        ```

        """

    static let gitignore = """
        __pycache__/
        *.egg-info/
        build/
        .venv/

        """
}
