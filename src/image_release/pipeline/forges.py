"""Which forge a release goes to (GitHub, GitLab or none) and with which token.

Tokens come from the environment only (the variable names are settings). A dry run needs none.
"""

from __future__ import annotations

from image_release.core.release_spec import ForgeTarget
from image_release.errors import AuthError, ConfigError


def forge_target(run) -> ForgeTarget:
    f = run.settings.forge
    ctx = run.context
    env = run.env
    kind = f.type
    if kind == "auto":
        if f.github_repository or ctx.ci == "github":
            kind = "github"
        elif f.gitlab_project or ctx.ci == "gitlab":
            kind = "gitlab"
        else:
            kind = "none"
    if kind == "github":
        repo = f.github_repository or ctx.repository or env.get("GITHUB_REPOSITORY")
        if not repo:
            raise ConfigError("no GitHub repository to release on",
                              hint="set release.forge.github.repository: owner/name")
        api = f.github_api_url or env.get("GITHUB_API_URL") or "https://api.github.com"
        return ForgeTarget("github", repo, api.rstrip("/"), f.github_token_env)
    if kind == "gitlab":
        project = f.gitlab_project or env.get("CI_PROJECT_ID") or ctx.repository
        url = f.gitlab_url or env.get("CI_SERVER_URL")
        if not project or not url:
            raise ConfigError("no GitLab project to release on",
                              hint="set release.forge.gitlab.url and release.forge.gitlab.project")
        has_private = bool(env.get(f.gitlab_token_env))
        job = not has_private and bool(env.get(f.gitlab_job_token_env))
        return ForgeTarget("gitlab", str(project), url.rstrip("/"),
                           f.gitlab_job_token_env if job else f.gitlab_token_env, job_token=job)
    return ForgeTarget("none")


def client_for(run, target: ForgeTarget):
    """The forge adapter for ``target`` (raises AuthError when its token is missing), made once per
    run: the preflight's client is the release step's."""
    if target not in run.forge_clients:
        run.forge_clients[target] = _make_client(run, target)
    return run.forge_clients[target]


def _make_client(run, target: ForgeTarget):
    token = run.env.get(target.token_env or "")
    if not token:
        if target.kind == "github":
            hint = (f"set {target.token_env} (on GitHub Actions: env: {target.token_env}: ${{{{ secrets.GITHUB_TOKEN }}}}, "
                    "with permissions: contents: write)")
        else:
            hint = (f"set {run.settings.forge.gitlab_token_env} (a token with the api scope) or run in GitLab CI "
                    f"where {run.settings.forge.gitlab_job_token_env} is given")
        raise AuthError(f"no token to create the {target.kind} release: {target.token_env} is not set", hint=hint)
    run.secret(token)
    if target.kind == "github":
        from image_release.adapters.forge_github import GitHubForge

        return GitHubForge(target.project, token, api_url=target.api_url, retry=run.retry_policy(), log=run.warn)
    from image_release.adapters.forge_gitlab import GitLabForge

    credential = {"job_token": token} if target.job_token else {"token": token}
    return GitLabForge(target.api_url, target.project, retry=run.retry_policy(), log=run.warn, **credential)
