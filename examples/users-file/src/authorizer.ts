import { AuthCallout, AuthError, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";

import { UserRepository } from "./users.js";

/** Admits the users of users.json into their account, with their permissions. */
@AuthCallout()
export class UsersFileAuthorizer implements Authorizer {
  constructor(private readonly users: UserRepository) {}

  authorize(request: AuthRequest): Grant {
    const { username, password } = request;
    if (!username || password === undefined) throw new AuthError("username and password required");
    const user = this.users.find(username);
    if (!user || !this.users.checkPassword(user, password)) throw new AuthError("invalid credentials");
    return { account: user.account, name: username, permissions: user.permissions };
  }
}
