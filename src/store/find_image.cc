// Image lookup by a user's name (see find_image.h).
#include "store/find_image.h"

#include "oci/reference.h"

namespace vmimage {

Result<FoundImage> find_image(Store& store, std::string_view ref) {
  Result<StoredImage> image = store.resolve(ref);
  if (image.ok()) return FoundImage{std::string(ref), std::move(*image)};
  if (image.error().kind() != ErrorKind::kImageNotFound) return std::move(image).error();
  Result<oci::Reference> parsed = oci::parse_reference(ref);
  if (!parsed.ok() || parsed->str() == ref) return std::move(image).error();
  Result<StoredImage> normalized = store.resolve(parsed->str());
  if (!normalized.ok()) return std::move(image).error();
  return FoundImage{parsed->str(), std::move(*normalized)};
}

}  // namespace vmimage
