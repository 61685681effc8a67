import AmigoWire
import Storage

/// What a user lets administrators see, from their preferences (`conversations_visible_to_admins`,
/// `user_model_visible_to_admins`, both true unless the user turns them off). "Administrators" are every
/// caller other than the user: the user always sees their own.
///
/// - A user's conversations hidden: another caller cannot read or act on any of them (403, whatever its
///   role), listings show them without their final message, and the user's memories — which point at
///   those conversations' messages — are not returned to others.
/// - A user's user model hidden: `get-user-model` by another caller is 403.
public enum Visibility {
    static let conversationsHidden = "The user has chosen not to show their conversations to administrators."
    static let userModelHidden = "The user has chosen not to show their user model to administrators."

    /// Whether `caller` may see the conversations of `owner` (nil: the user no longer exists, nothing to hide).
    public static func conversationsVisible(of owner: User?, to caller: Principal) -> Bool {
        guard let owner, owner.userID != caller.user.userID else { return true }
        return owner.preferences.conversationsVisibleToAdmins
    }

    /// Throws 403 when `owner` hides their conversations from `caller`.
    public static func requireConversationsVisible(of owner: User?, to caller: Principal) throws {
        if !conversationsVisible(of: owner, to: caller) { throw PlatformError.forbidden(conversationsHidden) }
    }

    /// Throws 403 when `owner` hides their user model from `caller`.
    public static func requireUserModelVisible(of owner: User, to caller: Principal) throws {
        if owner.userID != caller.user.userID, !owner.preferences.userModelVisibleToAdmins {
            throw PlatformError.forbidden(userModelHidden)
        }
    }
}
