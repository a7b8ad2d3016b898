// safeNext decides where the login page goes after a successful login,
// given its ?next= value: a path of one of this site's signed-in pages
// (followed in the page), a URL on one of the other origins the server
// lists for forward auth (followed by a full navigation), or /account for
// anything else, so that ?next= never sends anyone to another site. It
// touches no DOM, so that ui/next_test.go runs this very file under node.
//
// origin is this page's own; origins are the allowed others (the server
// lists https ones only in production); isPage(path) says whether path is
// one of this site's signed-in pages.
export function safeNext(next, origin, origins, isPage) {
  const fallback = "/account";
  // A URL that the server or a page builds is percent-encoded. URL parsers
  // drop blanks and control characters and read "\" as "/", which is how
  // "/\evil" and " //evil" would slip through: refuse them outright.
  if (typeof next !== "string" || next === "" || /[\s\x00-\x1f\x7f-\x9f\\]/.test(next)) return fallback;
  let u;
  try {
    // Only a path is read against this page; anything else must be a whole
    // URL on its own ("//evil" and "https:evil" are then judged by origin).
    u = next.startsWith("/") && !next.startsWith("//") ? new URL(next, origin) : new URL(next);
  } catch {
    return fallback;
  }
  if ((u.protocol !== "https:" && u.protocol !== "http:") || u.username || u.password) return fallback;
  if (u.origin === origin) return isPage(u.pathname) ? u.pathname + u.search + u.hash : fallback;
  return origins.includes(u.origin) ? u.href : fallback;
}
