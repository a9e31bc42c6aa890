import { AuthCallout, AuthError, type Authorizer, type AuthRequest, type Grant } from "@natsflow/auth-callout";

import { UserRepository } from "./users.js";

/** Admits the users of the SQL directory into their account, with their permissions. */
@AuthCallout()
export class UsersDbAuthorizer implements Authorizer {
  constructor(private readonly users: UserRepository) {}

  async authorize(request: AuthRequest): Promise<Grant> {
    const { username, password } = request;
    if (!username || password === undefined) throw new AuthError("username and password required");
    const user = await this.users.authenticate(username, password, { deadline: request.deadline, signal: request.signal });
    if (!user) throw new AuthError("invalid credentials");
    // A row without permissions is refused by the callout's grant validation: absent never means "allow all".
    return { account: user.account, name: user.name, permissions: user.permissions };
  }
}
