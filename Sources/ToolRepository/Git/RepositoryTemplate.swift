/// What a new organization repository starts with: its configuration, the hook that protects `main`,
/// and the first commit.
enum RepositoryTemplate {
    /// Appended to the `config` that `git init --bare` wrote.
    ///
    /// - `http.receivepack`, `http.uploadpack`: smart HTTP push and fetch (the server authenticates
    ///   before git sees the request).
    /// - `uploadpack.allowFilter`: partial clones (`--filter=blob:none`).
    /// - `uploadpack.allowReachableSHA1InWant`: fetching a pinned commit by hash with protocol v0.
    /// - `receive.fsckObjects`: a push with corrupt or malformed objects is refused.
    /// - `core.logAllRefUpdates`: every ref update is logged with the pushing user (http-backend sets
    ///   the committer to `REMOTE_USER`), so the reflog says who moved `main`.
    /// - `gc.autoDetach=false`: the automatic gc after a push runs inside the request, not as a
    ///   daemon outliving it.
    ///
    /// `receive.denyNonFastForwards` and `receive.denyDeletes` are not set: they would apply to every
    /// branch. The `update` hook (``updateHook``) applies them to `main` and to tags only.
    static let configuration = """
        [http]
        \treceivepack = true
        \tuploadpack = true
        [uploadpack]
        \tallowFilter = true
        \tallowReachableSHA1InWant = true
        [receive]
        \tfsckObjects = true
        [core]
        \tlogAllRefUpdates = true
        [gc]
        \tautoDetach = false

        """

    /// The `update` hook, run by `git receive-pack` once per ref a push changes (`$1` the ref, `$2`
    /// the old, `$3` the new object; all zeros for a creation or deletion). Published tool versions
    /// pin commits of `main`: `main` may only move forward and never be deleted, so every pinned
    /// commit stays reachable (gc never prunes it) and `isAncestor(pinned, of: main)` holds forever.
    /// Tags, once pushed, never move or disappear either. Other branches are free: force-pushes and
    /// deletions are allowed there.
    static let updateHook = #"""
        #!/bin/sh
        # Installed by Compadre: main only moves forward and is never deleted; tags never change.
        ref="$1"; old="$2"; new="$3"
        is_zero() { case "$1" in *[!0]*) return 1 ;; *) return 0 ;; esac; }
        case "$ref" in
        refs/heads/main)
            if is_zero "$new"; then
                echo "Compadre: main cannot be deleted." >&2; exit 1
            fi
            if ! is_zero "$old" && ! git merge-base --is-ancestor "$old" "$new"; then
                echo "Compadre: main cannot be rewritten (non-fast-forward); published versions pin its commits." >&2
                echo "Compadre: merge or rebase onto origin/main and push again." >&2
                exit 1
            fi
            ;;
        refs/tags/*)
            if ! is_zero "$old"; then
                echo "Compadre: tag ${ref#refs/tags/} already exists and cannot be moved or deleted." >&2; exit 1
            fi
            ;;
        esac
        exit 0

        """#

    /// The only file of the first commit on `main`, so that a fresh clone is not empty.
    static let readme = """
        # Tools

        This repository holds your organization's tools. Each tool is a Python project in a
        directory of its own, with a `pyproject.toml` at its root:

        ```
        weather/
          pyproject.toml
          src/weather/__init__.py
        crm-lookup/
          pyproject.toml
          crm_lookup.py
        ```

        Push to `main` to make a change available. A published tool version pins the commit it
        was built from, so `main` only moves forward: it cannot be force-pushed or deleted, and
        tags cannot be moved. Other branches can be rewritten freely.

        """

    /// `git fast-import` input that commits ``readme`` as `README.md` on `refs/heads/main`.
    static var initialCommit: [UInt8] {
        let message = "Start the tool repository\n"
        let readme = Array(Self.readme.utf8)
        var stream: [UInt8] = []
        stream += Array("""
            commit refs/heads/main
            author Compadre <compadre@localhost> now
            committer Compadre <compadre@localhost> now
            data \(message.utf8.count)
            \(message)M 100644 inline README.md
            data \(readme.count)

            """.utf8)
        stream += readme
        stream += Array("\ndone\n".utf8)
        return stream
    }
}
